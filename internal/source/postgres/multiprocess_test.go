package postgres_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/cli"
	pgsource "github.com/powersync-go/powersync/internal/source/postgres"
	"github.com/powersync-go/powersync/protocol"
)

// childCLIEnv makes the test binary run the powersync command line with
// these arguments (separated by \x1f) instead of the tests.
const childCLIEnv = "POWERSYNC_PGTEST_CHILD_CLI"

func runChildCLI(args string) int {
	return cli.Main(context.Background(), strings.Split(args, "\x1f"), os.Stdin, os.Stdout, os.Stderr)
}

// service is a powersync process started from the test binary.
type service struct {
	role string
	port int
	cmd  *exec.Cmd
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startService runs `powersync start -r role` with a config of its own port.
func startService(t testing.TB, role string, base map[string]any) *service {
	t.Helper()
	s := &service{role: role, port: freePort(t)}
	cfg := map[string]any{}
	for k, v := range base {
		cfg[k] = v
	}
	cfg["port"] = s.port
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "service.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(os.Args[0], "-test.run=^$")
	s.cmd.Env = append(os.Environ(), childCLIEnv+"="+strings.Join([]string{"start", "-r", role, "-c", path}, "\x1f"))
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		_ = s.cmd.Wait()
	})
	return s
}

// syncOnce downloads user's data from an API process up to the first
// checkpoint_complete and returns the rows by object id.
func syncOnce(ctx context.Context, port int, token string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	body := `{"buckets":[],"include_checksum":true,"raw_data":true,"client_id":"test"}`
	req, err := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("http://127.0.0.1:%d/sync/stream", port), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b.String())
	}
	rows := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var line struct {
			Data *struct {
				Data []protocol.OplogEntry `json:"data"`
			} `json:"data"`
			CheckpointComplete *json.RawMessage `json:"checkpoint_complete"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("line %s: %w", sc.Bytes(), err)
		}
		if line.Data != nil {
			for _, op := range line.Data.Data {
				switch op.Op {
				case protocol.OpPut:
					rows[op.ObjectID] = *op.Data
				case protocol.OpRemove:
					delete(rows, op.ObjectID)
				}
			}
		}
		if line.CheckpointComplete != nil {
			return rows, nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("stream ended before checkpoint_complete")
}

// waitRows waits until every API process serves want rows to the user.
func waitRows(t testing.TB, apis []*service, token string, want int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for _, api := range apis {
		for {
			rows, err := syncOnce(context.Background(), api.port, token)
			if err == nil && len(rows) == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("api process on port %d: %d rows (%v), want %d", api.port, len(rows), err, want)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return time.Since(start)
}

// TestSeveralProcesses: two `-r api` processes and a `-r sync` process (with
// a standby) share Postgres bucket storage; clients of both API processes
// get the data and every change; after the active replicating process is
// killed with SIGKILL the standby takes over on the lease.
func TestSeveralProcesses(t *testing.T) {
	ctx := context.Background()
	p := newPipeline(t, "postgres", pgsource.Options{}, e2eSetup+`
		INSERT INTO todos SELECT i, 'u' || (i % 5), 'todo ' || i, false, NULL FROM generate_series(1, 500) i;`)
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
	base := map[string]any{
		"replication": map[string]any{"connections": []any{map[string]any{"type": "postgresql", "uri": p.srcDB.URL}}},
		"storage":     map[string]any{"type": "postgresql", "uri": p.stDB.URL},
		"sync_config": map[string]any{"content": e2eSyncConfig},
		"client_auth": map[string]any{"jwks": map[string]any{"keys": []any{jwkMap}}, "audience": []any{"powersync-test"}},
		"system":      map[string]any{"logging": map[string]any{"level": "warn"}},
	}
	token, err := key.Sign(auth.TokenClaims{Subject: "u1", Audiences: []string{"powersync-test"},
		IssuedAt: time.Now(), Lifetime: time.Hour}.Map())
	if err != nil {
		t.Fatal(err)
	}
	p.st.Close(ctx) // the processes own the storage from here on

	sync1 := startService(t, "sync", base)
	waitLease(t, p.stDB.URL)
	sync2 := startService(t, "sync", base) // standby
	apis := []*service{startService(t, "api", base), startService(t, "api", base)}
	count := func() int {
		var n int
		if err := p.conn.QueryRow(ctx, `SELECT count(*) FROM todos WHERE owner_id = 'u1'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitRows(t, apis, token, count(), 2*time.Minute)

	p.exec(`INSERT INTO todos SELECT i, 'u1', 'new ' || i, false, NULL FROM generate_series(1001, 1010) i`)
	took := waitRows(t, apis, token, count(), time.Minute)
	t.Logf("a change reached clients of both API processes in %v", took)

	// SIGKILL whichever sync process holds the lease; the other takes over.
	holder := leaseHolder(t, p.stDB.URL)
	active, standby := sync1, sync2
	if !strings.Contains(holder, "-"+strconv.Itoa(sync1.cmd.Process.Pid)+"-") {
		active, standby = sync2, sync1
	}
	if !strings.Contains(holder, "-"+strconv.Itoa(active.cmd.Process.Pid)+"-") {
		t.Fatalf("lease holder %q is neither sync process (%d, %d)", holder, sync1.cmd.Process.Pid, sync2.cmd.Process.Pid)
	}
	kill9(t, active.cmd)
	killed := time.Now()
	p.exec(`INSERT INTO todos SELECT i, 'u1', 'after the kill ' || i, true, NULL FROM generate_series(2001, 2010) i`)
	waitRows(t, apis, token, count(), 2*time.Minute)
	t.Logf("standby (pid %d) took over and delivered new rows %v after the active process was killed",
		standby.cmd.Process.Pid, time.Since(killed).Round(100*time.Millisecond))
}

func leaseHolder(t testing.TB, url string) string {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var h string
	if err := conn.QueryRow(context.Background(), `SELECT holder FROM powersync.leases WHERE expires_at > now()`).Scan(&h); err != nil {
		t.Fatalf("read lease: %v", err)
	}
	return h
}

func waitLease(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := pgx.Connect(context.Background(), url)
		if err == nil {
			var n int
			err = conn.QueryRow(context.Background(), `SELECT count(*) FROM powersync.leases WHERE expires_at > now()`).Scan(&n)
			conn.Close(context.Background())
			if err == nil && n > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no process took the replication lease: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
