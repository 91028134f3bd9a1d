package cli_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/protocol"
)

// TestStartServesSyncStreams runs `powersync start` (unified) with an
// edition-3 Sync Streams config and checks, through the real engine, that a
// request's subscriptions select buckets and that the checkpoint line
// describes the streams and why each bucket is included.
func TestStartServesSyncStreams(t *testing.T) {
	dir := t.TempDir()
	sqliteSource(t, filepath.Join(dir, "app.db"), `CREATE TABLE todos (id TEXT PRIMARY KEY, owner_id TEXT, list_id TEXT, title TEXT);
		INSERT INTO todos VALUES ('1', 'u1', 'L1', 'mine'), ('2', 'u2', 'L2', 'in list 2'), ('3', 'u2', 'L3', 'in list 3')`)
	const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"
	yaml := `replication:
  connections:
    - type: sqlite
      path: app.db
storage:
  type: pebble
  path: data
port: 0
sync_config:
  content: |
    config:
      edition: 3
    streams:
      my_todos:
        auto_subscribe: true
        query: SELECT * FROM todos WHERE owner_id = auth.user_id()
      list_todos:
        query: SELECT * FROM todos WHERE list_id = subscription.parameter('list')
        accept_potentially_dangerous_queries: true
client_auth:
  audience: [test]
  jwks:
    keys:
      - {kty: oct, alg: HS256, kid: k1, k: ` + secret + `}
`
	cfgPath := filepath.Join(dir, "service.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	endpoint := devtest.Start(t, cfgPath, devtest.Options{}).Endpoint

	k, err := auth.ParseJWK(map[string]any{"kty": "oct", "alg": "HS256", "kid": "k1", "k": secret})
	if err != nil {
		t.Fatal(err)
	}
	sk, err := auth.NewHMACKey(k)
	if err != nil {
		t.Fatal(err)
	}
	token, err := sk.Sign(auth.TokenClaims{Subject: "u1", Audiences: []string{"test"}, IssuedAt: time.Now(), Lifetime: time.Hour}.Map())
	if err != nil {
		t.Fatal(err)
	}
	body := `{"raw_data":true,"streams":{"include_defaults":true,"subscriptions":[{"stream":"list_todos","parameters":{"list":"L2"},"override_priority":1}]}}`
	req, _ := http.NewRequest(http.MethodPost, endpoint+"/sync/stream", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var cp *protocol.Checkpoint
	var rows []string
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		var l protocol.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %s: %v", sc.Text(), err)
		}
		if l.Checkpoint != nil {
			cp = l.Checkpoint
		}
		if l.Data != nil {
			for _, op := range l.Data.Data {
				rows = append(rows, op.ObjectID)
			}
		}
		if l.CheckpointComplete != nil {
			break
		}
	}
	if cp == nil {
		t.Fatalf("no checkpoint line: %v", lines)
	}
	sort.Strings(rows)
	if strings.Join(rows, ",") != "1,2" {
		t.Errorf("rows %v, want 1 (my_todos) and 2 (list_todos with list L2)\n%s", rows, strings.Join(lines, "\n"))
	}
	streams := map[string]bool{}
	idx := map[string]int{}
	for i, s := range cp.Streams {
		streams[s.Name] = s.IsDefault
		idx[s.Name] = i
	}
	if d, ok := streams["my_todos"]; !ok || !d {
		t.Errorf("streams %+v: want my_todos as a default stream", cp.Streams)
	}
	var sawDefault, sawSub bool
	for _, b := range cp.Buckets {
		for _, s := range b.Subscriptions {
			if s.Default != nil && *s.Default == idx["my_todos"] && b.Priority == 3 {
				sawDefault = true
			}
			if s.Sub != nil && *s.Sub == 0 && b.Priority == 1 {
				sawSub = true
			}
		}
	}
	if !sawDefault || !sawSub {
		t.Errorf("buckets %+v: want one included by default (my_todos) and one by subscription 0 with priority 1", cp.Buckets)
	}
}
