package mysql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/internal/storage"
)

// clientSchema is the client's view of what e2eSyncConfig syncs.
var clientSchema = client.Schema{Tables: []client.Table{
	client.NewTable("todos", "owner_id", client.Text, "title", client.Text, "done", client.Integer, "body", client.Text),
	client.NewTable("lists", "name", client.Text),
}}

// clientTables read the same columns, rendered as text, from the source
// (per owner for todos) and from a client's local tables.
// (the source query of a per-owner table takes the owner).
var clientTables = []struct {
	name, source, local string
	perOwner            bool
}{
	{"todos", `SELECT CAST(id AS CHAR), owner_id, title, CAST(done AS CHAR), body FROM todos WHERE owner_id = ?`,
		`SELECT id, owner_id, title, CAST(done AS TEXT), body FROM todos`, true},
	{"lists", `SELECT id, name FROM lists`, `SELECT id, name FROM lists`, false},
}

// keyConnector hands a client tokens for one user signed with the API
// process's key; the tests write no data through the client.
type keyConnector struct {
	endpoint, user string
	key            *auth.SigningKey
}

func (c keyConnector) FetchCredentials(context.Context) (client.Credentials, error) {
	tok, err := c.key.Sign(auth.TokenClaims{Subject: c.user, Audiences: []string{"mysqltest"}, IssuedAt: time.Now(),
		Lifetime: time.Hour}.Map())
	return client.Credentials{Endpoint: c.endpoint, Token: tok}, err
}

func (keyConnector) UploadData(context.Context, *client.DB) error { return nil }

// startAPI runs `powersync start -r api` in this process over the
// pipeline's Postgres bucket storage and MariaDB source: the sync API a
// client connects to, serving what the pipeline's replicator wrote.
func (p *pipeline) startAPI(key *auth.SigningKey) *devtest.Instance {
	p.t.Helper()
	jwk, err := key.MarshalJWK()
	if err != nil {
		p.t.Fatal(err)
	}
	var jwkMap map[string]any
	if err := json.Unmarshal(jwk, &jwkMap); err != nil {
		p.t.Fatal(err)
	}
	cfg, err := json.Marshal(map[string]any{
		"port": 0,
		"replication": map[string]any{"connections": []any{map[string]any{
			"type": "mysql", "uri": p.srcDB.URL("root", "")}}},
		"storage":     map[string]any{"type": "postgresql", "uri": p.stDB.URL},
		"sync_config": map[string]any{"content": e2eSyncConfig},
		"client_auth": map[string]any{"jwks": map[string]any{"keys": []any{jwkMap}}, "audience": []any{"mysqltest"}},
	})
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.t.TempDir(), "service.yaml")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		p.t.Fatal(err)
	}
	return devtest.Start(p.t, path, devtest.Options{Args: []string{"-r", "api"}})
}

// verifyClients syncs a client SDK database for every owner from a sync
// API over the recovered storage, waits until each has applied a
// checkpoint at or after cp (the client validates every checkpoint's
// checksums and counts failures), and compares its local tables row for
// row with the MariaDB source. The source must not change meanwhile.
func (p *pipeline) verifyClients(cp storage.Checkpoint) {
	p.t.Helper()
	key, err := auth.GenerateKey("HS256", "k1")
	if err != nil {
		p.t.Fatal(err)
	}
	api := p.startAPI(key)
	ctx := context.Background()
	total := 0
	for _, owner := range e2eOwners {
		db, err := client.Open(ctx, client.Options{Path: filepath.Join(p.t.TempDir(), owner+".db"), Schema: clientSchema})
		if err != nil {
			p.t.Fatal(err)
		}
		err = db.Connect(ctx, keyConnector{endpoint: api.Endpoint, user: owner, key: key},
			client.ConnectOptions{RetryDelay: 50 * time.Millisecond, MaxRetryDelay: 500 * time.Millisecond})
		if err != nil {
			p.t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = db.WaitFor(wctx, func(s client.SyncStatus) bool { return s.HasSynced && s.Checkpoint >= cp.OpID })
		cancel()
		st := db.Status()
		db.Disconnect()
		if err != nil {
			db.Close(ctx)
			p.t.Fatalf("client %s: no checkpoint >= %d within 2m (status %+v)", owner, cp.OpID, st)
		}
		if st.ChecksumFailures != 0 {
			p.t.Errorf("client %s: %d checkpoints failed checksum validation", owner, st.ChecksumFailures)
		}
		for _, tb := range clientTables {
			var args []any
			if tb.perOwner {
				args = append(args, owner)
			}
			want := queryText(p.t, p.sql, tb.source, args...)
			got := queryText(p.t, db.SQL(), tb.local)
			total += len(got)
			if !reflect.DeepEqual(got, want) {
				p.t.Errorf("client %s table %s: %d rows, source %d; %s", owner, tb.name, len(got), len(want), firstDiff(got, want))
			}
		}
		if err := db.Close(ctx); err != nil {
			p.t.Fatal(err)
		}
	}
	p.t.Logf("%d clients hold the source's %d rows (checkpoint %d)", len(e2eOwners), total, cp.OpID)
}

// queryText runs q and renders each row as its columns' quoted text
// joined by "|" (NULL as NULL), sorted (the first column is the id).
func queryText(t testing.TB, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	vals := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = "NULL"
			if v.Valid {
				parts[i] = fmt.Sprintf("%q", v.String)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	sort.Strings(out)
	return out
}

// firstDiff describes the first row where got and want differ.
func firstDiff(got, want []string) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		g, w := "(none)", "(none)"
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			return fmt.Sprintf("row %d: client %s, source %s", i, g, w)
		}
	}
	return "same rows"
}
