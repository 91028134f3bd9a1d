package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/internal/pgtest"
)

// post sends body to url with the Authorization header authz (none when
// empty) and returns the status and the answer.
func post(t *testing.T, url, authz, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminPost posts body to the admin API route path with an admin token.
func adminPost(t *testing.T, endpoint, token, path, body string) (int, string) {
	t.Helper()
	return post(t, endpoint+"/api/admin/v1/"+path, "Bearer "+token, body)
}

// todosPostgres starts a private Postgres cluster with an "app" source
// database and an empty "store" database for bucket storage. The source
// has a todos table (id, owner_id, title) with rows t1 (owner u1) and t2
// (owner u2), published as "powersync"; conn is connected to it until the
// test ends.
func todosPostgres(t *testing.T) (*pgtest.Cluster, *pgx.Conn) {
	t.Helper()
	c := pgtest.Private(t)
	ctx := context.Background()
	for _, db := range []string{"app", "store"} {
		if err := c.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, c.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, `CREATE TABLE todos (id text PRIMARY KEY, owner_id text, title text);
		INSERT INTO todos VALUES ('t1', 'u1', 'first'), ('t2', 'u2', 'second');
		CREATE PUBLICATION powersync FOR ALL TABLES`); err != nil {
		t.Fatal(err)
	}
	return c, conn
}

// byOwnerSyncConfig is the sync_config section of a service config with
// one bucket, by_owner: the todos whose owner_id is the user's id.
const byOwnerSyncConfig = `sync_config:
  content: |
    bucket_definitions:
      by_owner:
        parameters: SELECT request.user_id() AS owner_id
        data:
          - SELECT * FROM todos WHERE owner_id = bucket.owner_id
`

// writeTodosPostgresConfig writes to path a service config for the
// todosPostgres cluster c: the "app" source with debug_api on, bucket
// storage in "store", one by_owner bucket of todos, clientAuth as the body
// of client_auth and admin as the admin API token.
func writeTodosPostgresConfig(t *testing.T, path string, c *pgtest.Cluster, clientAuth, admin string) {
	t.Helper()
	yaml := fmt.Sprintf(`replication:
  connections:
    - type: postgresql
      uri: %s
      debug_api: true
storage:
  type: postgresql
  uri: %s
port: 0
`+byOwnerSyncConfig+`client_auth:
%sapi:
  tokens: [%s]
`, c.URL("app"), c.URL("store"), clientAuth, admin)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAdminPostgresSharedStorage runs a unified and an api process on one
// Postgres source and one Postgres bucket storage: diagnostics report the
// Postgres replication state, execute-sql is read-only, and a development
// token minted by one process is accepted by the other until development
// tokens are turned off, which ends its stream on the other process too.
func TestAdminPostgresSharedStorage(t *testing.T) {
	clearConfigEnv(t)
	c, conn := todosPostgres(t)
	ctx := context.Background()
	conn.Close(ctx)

	dir := t.TempDir()
	const admin = "pg-admin-token"
	// Only a public key in client_auth: nothing here can sign client tokens.
	sk, err := auth.GenerateKey("ES256", "public-only")
	if err != nil {
		t.Fatal(err)
	}
	var jwk strings.Builder
	for i, f := range sk.Public().PublicJWK() {
		prefix := "        "
		if i == 0 {
			prefix = "      - "
		}
		fmt.Fprintf(&jwk, "%s%s: '%s'\n", prefix, f.Name, f.Value)
	}
	write := func(name string) string {
		p := filepath.Join(dir, name)
		writeTodosPostgresConfig(t, p, c, `  audience: [app]
  allow_temporary_tokens: true
  jwks:
    keys:
`+jwk.String(), admin)
		return p
	}
	unified := devtest.Start(t, write("unified.yaml"), devtest.Options{Args: []string{"-r", "unified"}}).Endpoint
	api := devtest.Start(t, write("api.yaml"), devtest.Options{Args: []string{"-r", "api"}}).Endpoint

	// Diagnostics of the Postgres source.
	status, body := adminPost(t, unified, admin, "diagnostics", `{}`)
	if status != 200 {
		t.Fatalf("diagnostics: %d %s", status, body)
	}
	var diag struct {
		Data struct {
			Connections []struct {
				PostgresURI string `json:"postgres_uri"`
				Connected   bool
			}
			ActiveSyncRules struct {
				Connections []struct {
					SlotName            string `json:"slot_name"`
					LastLSN             string `json:"last_lsn"`
					ReplicationLagBytes *int64 `json:"replication_lag_bytes"`
					Tables              []struct {
						Schema, Name  string
						ReplicationID []string `json:"replication_id"`
					}
				}
			} `json:"active_sync_rules"`
		}
	}
	if err := json.Unmarshal([]byte(body), &diag); err != nil {
		t.Fatal(err)
	}
	d := diag.Data
	if len(d.Connections) != 1 || !d.Connections[0].Connected || !strings.HasPrefix(d.Connections[0].PostgresURI, "postgres") {
		t.Errorf("connections: %s", body)
	}
	if len(d.ActiveSyncRules.Connections) != 1 {
		t.Fatalf("active sync rules: %s", body)
	}
	ac := d.ActiveSyncRules.Connections[0]
	if ac.SlotName == "" || !lsnRE.MatchString(ac.LastLSN) || ac.ReplicationLagBytes == nil {
		t.Errorf("replication state: %s", body)
	}
	if len(ac.Tables) != 1 || ac.Tables[0].Schema != "public" || ac.Tables[0].Name != "todos" || strings.Join(ac.Tables[0].ReplicationID, ",") != "id" {
		t.Errorf("tables: %s", body)
	}

	// The source schema, typed as replication converts the columns.
	status, body = adminPost(t, api, admin, "schema", `{}`)
	if status != 200 || !strings.Contains(body, `"defaultSchema":"public"`) ||
		!strings.Contains(body, `{"name":"public","tables":[{"name":"todos","columns":[{"name":"id","sqlite_type":"text","internal_type":"text"`) {
		t.Errorf("schema: %d %s", status, body)
	}

	// execute-sql reads, and cannot write.
	status, body = adminPost(t, api, admin, "execute-sql", `{"sql":{"query":"SELECT id, title FROM todos WHERE owner_id = $1","args":["u1"]}}`)
	if status != 200 || !strings.Contains(body, `"success":true`) || !strings.Contains(body, `["t1","first"]`) {
		t.Errorf("execute-sql select: %d %s", status, body)
	}
	status, body = adminPost(t, api, admin, "execute-sql", `{"sql":{"query":"DELETE FROM todos","args":[]}}`)
	if status != 200 || !strings.Contains(body, `"success":false`) || !strings.Contains(body, "read-only") {
		t.Errorf("execute-sql delete: %d %s", status, body)
	}

	// A token minted by the unified process syncs through the api process.
	status, body = adminPost(t, unified, admin, "dev-token", `{"user_id":"u1"}`)
	if status != 200 {
		t.Fatalf("dev-token: %d %s", status, body)
	}
	var minted struct{ Data struct{ Token string } }
	json.Unmarshal([]byte(body), &minted)
	open := func() *http.Response {
		req, _ := http.NewRequest(http.MethodPost, api+"/sync/stream", strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Token "+minted.Data.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := open()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream on the api process: %d %s", resp.StatusCode, b)
	}
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before u1's row: %v", err)
		}
		if strings.Contains(line, `"data"`) && strings.Contains(line, `\"first\"`) {
			break
		}
	}
	ended := make(chan struct{})
	go func() {
		io.Copy(io.Discard, r)
		close(ended)
	}()
	// Off on the unified process: the api process follows and ends the stream.
	if status, body = adminPost(t, unified, admin, "settings", `{"development_tokens":false}`); status != 200 {
		t.Fatalf("settings: %d %s", status, body)
	}
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the api process did not end the development-token stream after the setting was turned off elsewhere")
	}
	resp.Body.Close()
	resp = open()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), "Development tokens are disabled for this instance") {
		t.Errorf("reconnect on the api process: %d %s", resp.StatusCode, b)
	}
}

var lsnRE = regexp.MustCompile(`^[0-9A-F]+/[0-9A-F]+$`)
