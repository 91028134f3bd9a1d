package config_test

import (
	"strings"
	"testing"
)

// A mysql connection loads from a URI or from separate keys (which override
// the URI's parts), with the reference's server_id.
func TestMySQLConnection(t *testing.T) {
	cases := []struct {
		name, conn, want string
		serverID         uint32
	}{
		{"uri", "uri: mysql://repl:secret@db.example:3306/app", "mysql://repl:secret@db.example:3306/app", 0},
		{"fields", "hostname: db.example\n      port: 3307\n      database: app\n      username: repl\n      password: p@ss\n      server_id: 4242",
			"mysql://repl:p%40ss@db.example:3307/app", 4242},
		{"fields over uri", "uri: mysql://a:b@old:1/olddb\n      hostname: new\n      database: app\n      password: c",
			"mysql://a:c@new:1/app", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(minimal, "- type: sqlite\n      path: src.db", "- type: mysql\n      "+c.conn, 1)
			cfg := mustParse(t, src, nil)
			conn := cfg.Replication.Connections[0]
			if conn.Type != "mysql" {
				t.Fatalf("type %q", conn.Type)
			}
			if got := conn.MySQLURI(); got != c.want {
				t.Errorf("MySQLURI() = %q, want %q", got, c.want)
			}
			if conn.ServerID != c.serverID {
				t.Errorf("ServerID = %d, want %d", conn.ServerID, c.serverID)
			}
		})
	}
}

// Every malformed mysql connection is an error naming the key and the fix.
func TestMySQLConnectionErrors(t *testing.T) {
	cases := []struct{ conn, want string }{
		{"database: app", "needs uri (mysql://user:password@host:3306/database) or hostname"},
		{"uri: postgresql://h/app", `expected a URI starting with mysql://, got scheme "postgresql"`},
		{"uri: mysql://h", "needs the database to replicate"},
		{"uri: mysql:///app", "the URI names no host"},
		{"uri: mysql://h:99999/app", `port "99999" in the URI`},
		{"uri: mysql://h/a/b", "must be one database name"},
		{"uri: \"mysql://h/app\\x7f\"", "not a valid URI"},
		{"uri: mysql://h/app\n      server_id: -1", "server_id: must be between 1 and 4294966295"},
		{"uri: mysql://h/app\n      server_id: abc", "server_id"},
		{"uri: mysql://h/app\n      slot_name_prefix: x", "slot_name_prefix: does not apply to a mysql connection"},
		{"uri: mysql://h/app\n      path: x.db", "path: does not apply to a mysql connection"},
	}
	for _, c := range cases {
		src := strings.Replace(minimal, "- type: sqlite\n      path: src.db", "- type: mysql\n      "+c.conn, 1)
		msgs := parseErr(t, src, nil)
		if !strings.Contains(strings.Join(msgs, "\n"), c.want) {
			t.Errorf("%q: errors %q, want one containing %q", c.conn, msgs, c.want)
		}
	}
	// server_id belongs to mysql connections only.
	src := strings.Replace(minimal, "path: src.db", "path: src.db\n      server_id: 3", 1)
	if msgs := parseErr(t, src, nil); !strings.Contains(strings.Join(msgs, "\n"), "server_id: does not apply to a sqlite connection") {
		t.Errorf("sqlite with server_id: %q", msgs)
	}
}
