package compat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/internal/pgtest"
)

// pgSyncConfig syncs each user's lists and todos (the schema of
// sdk-client.mjs).
const pgSyncConfig = `
bucket_definitions:
  by_owner:
    parameters: SELECT request.user_id() AS owner_id
    data:
      - SELECT id, name, owner_id, created_at FROM lists WHERE owner_id = bucket.owner_id
      - SELECT id, list_id, description, completed, owner_id, created_at FROM todos WHERE owner_id = bucket.owner_id
`

// startPgService runs `powersync start -r role` with cfg in this process
// and returns its endpoint once it serves.
func startPgService(t *testing.T, role string, cfg map[string]any) *devtest.Instance {
	t.Helper()
	c := map[string]any{"port": 0}
	for k, v := range cfg {
		c[k] = v
	}
	data, _ := json.Marshal(c)
	path := filepath.Join(t.TempDir(), "service.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return devtest.Start(t, path, devtest.Options{Args: []string{"-r", role}})
}

// TestNodeSDKWithPostgres: the official Node SDK syncs from a Postgres
// source through Postgres bucket storage, with two `-r api` processes and a
// `-r sync` process; a client on each API process gets the user's rows and
// every change made in Postgres.
func TestNodeSDKWithPostgres(t *testing.T) {
	node := requireSDK(t)
	cluster := pgtest.Private(t)
	ctx := context.Background()
	for _, db := range []string{"app", "storage"} {
		if err := cluster.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, cluster.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`
		CREATE TABLE lists (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, owner_id text, created_at text);
		CREATE TABLE todos (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), list_id uuid, description text,
			completed boolean, owner_id text, created_at text);
		CREATE PUBLICATION powersync FOR TABLE lists, todos;
		INSERT INTO lists (id, name, owner_id) VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'mine', 'u1'),
			('b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'theirs', 'u2');
		INSERT INTO todos (list_id, description, completed, owner_id, created_at)
			SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'todo ' || i, i % 2 = 0, 'u1', '2026-01-01'
			FROM generate_series(1, 2000) i;
		INSERT INTO todos (list_id, description, completed, owner_id)
			SELECT 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'other ' || i, false, 'u2' FROM generate_series(1, 300) i;`)

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
		"replication": map[string]any{"connections": []any{map[string]any{"type": "postgresql", "uri": cluster.URL("app")}}},
		"storage":     map[string]any{"type": "postgresql", "uri": cluster.URL("storage")},
		"sync_config": map[string]any{"content": pgSyncConfig},
		"client_auth": map[string]any{"jwks": map[string]any{"keys": []any{jwkMap}}, "audience": []any{"compat"}},
	}
	// API processes refuse an unmigrated storage: the sync process serves
	// (reports Ready) once it has migrated it.
	startPgService(t, "sync", cfg)
	api1 := startPgService(t, "api", cfg)
	api2 := startPgService(t, "api", cfg)

	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, err := key.Sign(auth.TokenClaims{Subject: "u1", Audiences: []string{"compat"}, IssuedAt: time.Now(), Lifetime: time.Hour}.Map())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
	}))
	defer ts.Close()
	tokens := &tokenServer{Server: ts}
	a := startClientOver(t, node, api1.Endpoint, "http", tokens, "api1")
	b := startClientOver(t, node, api2.Endpoint, "http", tokens, "api2")

	source := func() string {
		var s string
		err := conn.QueryRow(ctx, `SELECT count(*) || '/' || coalesce(sum(length(description)), 0) || '/' ||
			count(*) FILTER (WHERE completed) FROM todos WHERE owner_id = 'u1'`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	client := func(c *sdkClient) string {
		rows := c.query(t, `SELECT count(*) || '/' || coalesce(sum(length(description)), 0) || '/' ||
			count(*) FILTER (WHERE completed = 1) AS s FROM todos`)
		s, _ := rows[0]["s"].(string)
		return s
	}
	converge := func(what string) {
		t.Helper()
		want := source()
		for _, c := range []*sdkClient{a, b} {
			c.eventually(t, what+" on "+c.name, 2*time.Minute, func() bool { return client(c) == want })
		}
	}
	converge("initial sync of 2,000 todos")
	if n := a.count(t, `SELECT count(*) FROM lists`); n != 1 {
		t.Fatalf("client has %d lists, want only the user's 1", n)
	}

	exec(`INSERT INTO todos (list_id, description, completed, owner_id)
		SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'added ' || i, true, 'u1' FROM generate_series(1, 25) i`)
	exec(`UPDATE todos SET description = description || ' (edited)', completed = NOT completed WHERE description LIKE 'todo 1%'`)
	exec(`DELETE FROM todos WHERE description LIKE 'todo 2%'`)
	exec(`UPDATE todos SET owner_id = 'u1' WHERE description = 'other 7'`)
	converge("source changes")
	t.Logf("both clients match the source: %s (count/description bytes/completed)", source())
}
