package cli

import (
	"log/slog"
	"time"

	"github.com/powersync-go/powersync/internal/config"
	mysqlsource "github.com/powersync-go/powersync/internal/source/mysql"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// mysqlSourceOptions are the MySQL source options of a connection: the URI
// with the separate keys laid over it, the replica server_id, slot start
// positions kept in bucket storage's settings, the timestamp precision
// from the sync config's timestamps_iso8601 and the heartbeat from
// heartbeat_interval_seconds.
func mysqlSourceOptions(cfg *config.Config, c config.Connection, settings storage.Settings, log *slog.Logger) mysqlsource.Options {
	o := mysqlsource.Options{URI: c.MySQLURI(), ServerID: c.ServerID, Slots: settings, Logger: log}
	if c.HeartbeatIntervalSeconds > 0 {
		o.HeartbeatInterval = time.Duration(c.HeartbeatIntervalSeconds) * time.Second
	}
	if cfg.SyncConfig.Content != "" {
		if sc, _ := syncrules.Parse([]byte(cfg.SyncConfig.Content), syncrules.ParseOptions{}); sc != nil {
			o.TimestampsISO8601 = sc.Compatibility().TimestampsISO8601
		}
	}
	return o
}
