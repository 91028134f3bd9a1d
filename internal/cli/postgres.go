package cli

import (
	"log/slog"
	"time"

	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/source"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// pgSourceOptions are the Postgres source options of a connection: the
// timestamp format and the rendering of composite and range values follow
// the sync config's compatibility (timestamps_iso8601 and
// custom_postgres_types, on from edition 2), the heartbeat the connection's
// heartbeat_interval_seconds.
func pgSourceOptions(cfg *config.Config, c config.Connection, log *slog.Logger) pgsource.Options {
	o := pgsource.Options{ConnString: c.PostgresURI(), Logger: log, TLS: pgsource.TLSOptions{
		CACert: c.CACert, ClientCert: c.ClientCertificate, ClientKey: c.ClientPrivateKey, ServerName: c.TLSServername}}
	if c.HeartbeatIntervalSeconds > 0 {
		o.HeartbeatInterval = time.Duration(c.HeartbeatIntervalSeconds) * time.Second
	}
	if cfg.SyncConfig.Content != "" {
		if sc, _ := syncrules.Parse([]byte(cfg.SyncConfig.Content), syncrules.ParseOptions{DefaultSchema: source.PostgresDefaultSchema}); sc != nil {
			o.TimestampsISO8601 = sc.Compatibility().TimestampsISO8601
			o.CustomTypes = sc.Compatibility().CustomPostgresTypes
		}
	}
	return o
}
