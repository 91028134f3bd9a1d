package cli

import (
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/config"
)

func TestPgSourceOptions(t *testing.T) {
	conn := config.Connection{Type: "postgresql", URI: "postgres://u@h/db", HeartbeatIntervalSeconds: 7}
	cases := []struct {
		name, content string
		iso, custom   bool
	}{
		{"legacy sync rules", "bucket_definitions:\n  g:\n    data:\n      - SELECT * FROM t\n", false, false},
		{"edition 2", "config:\n  edition: 2\nbucket_definitions:\n  g:\n    data:\n      - SELECT * FROM t\n", true, true},
		{"explicit switch", "config:\n  timestamps_iso8601: true\nbucket_definitions:\n  g:\n    data:\n      - SELECT * FROM t\n", true, false},
	}
	for _, c := range cases {
		cfg := &config.Config{SyncConfig: config.SyncConfig{Content: c.content}}
		o := pgSourceOptions(cfg, conn, nil)
		if o.TimestampsISO8601 != c.iso || o.CustomTypes != c.custom || o.HeartbeatInterval != 7*time.Second || o.ConnString != conn.URI {
			t.Errorf("%s: %+v", c.name, o)
		}
	}
}
