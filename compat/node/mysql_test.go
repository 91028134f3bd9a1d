package compat_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/mysqltest"
)

// TestNodeSDKWithMariaDB: the official Node SDK syncs a user's rows from a
// MariaDB source (binlog replication into Pebble bucket storage, one
// `powersync start` process): the initial copy of 2,000 todos, then
// inserts, updates, deletes and a row moving into the user's bucket, with
// DATETIME values in the documented ISO form.
func TestNodeSDKWithMariaDB(t *testing.T) {
	node := requireSDK(t)
	srv := mysqltest.Private(t)
	ctx := context.Background()
	if err := srv.Exec(ctx, "CREATE DATABASE app",
		"CREATE USER 'powersync'@'127.0.0.1' IDENTIFIED BY 'repl-secret'",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'powersync'@'127.0.0.1'",
		"GRANT SELECT ON app.* TO 'powersync'@'127.0.0.1'"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", srv.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE lists (id CHAR(36) PRIMARY KEY, name TEXT, owner_id VARCHAR(32), created_at DATETIME(3))`)
	exec(`CREATE TABLE todos (id CHAR(36) PRIMARY KEY, list_id CHAR(36), description TEXT, completed BOOLEAN,
		owner_id VARCHAR(32), created_at DATETIME)`)
	exec(`INSERT INTO lists VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'mine', 'u1', '2026-01-02 03:04:05.678'),
		('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'theirs', 'u2', NULL)`)
	exec(`INSERT INTO todos SELECT UUID(), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', CONCAT('todo ', seq), seq % 2 = 0, 'u1',
		'2026-01-01 00:00:00' FROM seq_1_to_2000`)
	exec(`INSERT INTO todos SELECT UUID(), 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', CONCAT('other ', seq), FALSE, 'u2', NULL
		FROM seq_1_to_300`)

	key, err := auth.GenerateKey("HS256", "k1")
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := key.MarshalJWK()
	if err != nil {
		t.Fatal(err)
	}
	var jwkMap map[string]any
	if err := json.Unmarshal(jwk, &jwkMap); err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"replication": map[string]any{"connections": []any{map[string]any{
			"type": "mysql", "uri": srv.URL("powersync", "repl-secret", "app"), "server_id": 4242}}},
		"storage":     map[string]any{"type": "pebble", "path": filepath.Join(t.TempDir(), "storage")},
		"sync_config": map[string]any{"content": pgSyncConfig},
		"client_auth": map[string]any{"jwks": map[string]any{"keys": []any{jwkMap}}, "audience": []any{"compat"}},
	}
	svc := startPgService(t, "unified", cfg)

	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := key.Sign(auth.TokenClaims{Subject: "u1", Audiences: []string{"compat"}, IssuedAt: time.Now(), Lifetime: time.Hour}.Map())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
	}))
	defer ts.Close()
	c := startClientOver(t, node, svc.Endpoint, "http", &tokenServer{Server: ts}, "mariadb")

	source := func() string {
		var s string
		err := db.QueryRowContext(ctx, `SELECT CONCAT(COUNT(*), '/', COALESCE(SUM(LENGTH(description)), 0), '/',
			COALESCE(SUM(completed), 0)) FROM todos WHERE owner_id = 'u1'`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	client := func() string {
		rows := c.query(t, `SELECT count(*) || '/' || coalesce(sum(length(description)), 0) || '/' ||
			count(*) FILTER (WHERE completed = 1) AS s FROM todos`)
		s, _ := rows[0]["s"].(string)
		return s
	}
	converge := func(what string) {
		t.Helper()
		want := source()
		c.eventually(t, what, 2*time.Minute, func() bool { return client() == want })
	}
	converge("initial sync of 2,000 todos")
	lists := c.query(t, `SELECT name, created_at FROM lists`)
	if len(lists) != 1 || lists[0]["name"] != "mine" || lists[0]["created_at"] != "2026-01-02T03:04:05.678Z" {
		t.Fatalf("client lists %v, want only the user's one with created_at 2026-01-02T03:04:05.678Z", lists)
	}
	todo := c.query(t, `SELECT created_at FROM todos LIMIT 1`)
	if todo[0]["created_at"] != "2026-01-01T00:00:00.000Z" {
		t.Fatalf("todo created_at %v", todo[0]["created_at"])
	}

	exec(`INSERT INTO todos SELECT UUID(), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', CONCAT('added ', seq), TRUE, 'u1', NULL
		FROM seq_1_to_25`)
	exec(`UPDATE todos SET description = CONCAT(description, ' (edited)'), completed = NOT completed WHERE description LIKE 'todo 1%'`)
	exec(`DELETE FROM todos WHERE description LIKE 'todo 2%'`)
	exec(`UPDATE todos SET owner_id = 'u1' WHERE description = 'other 7'`)
	converge("source changes")
	t.Logf("the client matches the source: %s (count/description bytes/completed)", source())
}
