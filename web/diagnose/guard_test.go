package diagnose_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/web/diagnose"
)

// guarded starts a diagnostics server (no sync service needed) on a
// loopback port it knows, as the command does.
func guarded(t *testing.T) (*diagnose.Server, *httptest.Server) {
	t.Helper()
	hs := httptest.NewUnstartedServer(nil)
	srv, err := diagnose.Open(context.Background(), diagnose.Options{DBPath: filepath.Join(t.TempDir(), "d.db"),
		Secret: testSecret, Addr: hs.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	return srv, hs
}

type hostileCase struct {
	name    string
	method  string
	path    string
	body    string
	headers map[string]string
	host    string // "" = the server's own address
	status  int
	errText string
}

// TestGuard sends the requests a hostile web page (or a DNS-rebinding one)
// in the user's browser could make, and checks each is refused before it
// reaches the API, and that the page's own requests still work.
func TestGuard(t *testing.T) {
	_, hs := guarded(t)
	port := hs.Listener.Addr().(*net.TCPAddr).Port
	own := hs.Listener.Addr().String()
	ok := map[string]string{diagnose.SecretHeader: testSecret}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{diagnose.SecretHeader: testSecret}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	sql := `{"sql":"SELECT 1 AS one"}`
	cases := []hostileCase{
		{name: "own page", method: "GET", path: "/", status: 200},
		{name: "own API call", method: "POST", path: "/api/sql", body: sql, headers: with(map[string]string{
			"Origin": "http://" + own, "Sec-Fetch-Site": "same-origin"}), status: 200},
		{name: "own API call as localhost", method: "POST", path: "/api/sql", body: sql, host: "localhost:" + itoa(port),
			headers: with(map[string]string{"Origin": "http://localhost:" + itoa(port)}), status: 200},
		{name: "curl with the secret", method: "GET", path: "/api/status", headers: ok, status: 200},

		{name: "no secret", method: "POST", path: "/api/sql", body: sql, status: 401, errText: "missing X-Diagnose-Secret"},
		{name: "wrong secret", method: "POST", path: "/api/sql", body: sql, headers: map[string]string{diagnose.SecretHeader: "guess"},
			status: 401, errText: "wrong X-Diagnose-Secret"},
		{name: "secret prefix", method: "GET", path: "/api/status", headers: map[string]string{diagnose.SecretHeader: testSecret[:10]},
			status: 401, errText: "wrong"},
		{name: "secret in a cookie", method: "GET", path: "/api/status", headers: map[string]string{"Cookie": "X-Diagnose-Secret=" + testSecret},
			status: 401, errText: "missing"},
		{name: "secret in the query", method: "GET", path: "/api/status?secret=" + testSecret, status: 401, errText: "missing"},
		{name: "huge secret", method: "GET", path: "/api/status", headers: map[string]string{diagnose.SecretHeader: strings.Repeat("x", 100000)},
			status: 401, errText: "wrong"},

		{name: "cross-origin POST", method: "POST", path: "/api/sql", body: `{"sql":"ATTACH 'x.db' AS x"}`,
			headers: with(map[string]string{"Origin": "http://evil.example"}), status: 403, errText: `origin "http://evil.example" refused`},
		{name: "other localhost port", method: "POST", path: "/api/connect", body: `{"token":"a.b.c","endpoint":"http://evil.example"}`,
			headers: with(map[string]string{"Origin": "http://127.0.0.1:3000"}), status: 403, errText: "refused"},
		{name: "https origin", method: "POST", path: "/api/sql", body: sql,
			headers: with(map[string]string{"Origin": "https://" + own}), status: 403, errText: "refused"},
		{name: "null origin", method: "POST", path: "/api/sql", body: sql, headers: with(map[string]string{"Origin": "null"}),
			status: 403, errText: "refused"},
		{name: "cross-site fetch", method: "POST", path: "/api/redownload", body: `{}`,
			headers: with(map[string]string{"Sec-Fetch-Site": "cross-site"}), status: 403, errText: "cross-site"},
		{name: "same-site fetch", method: "GET", path: "/api/status",
			headers: with(map[string]string{"Sec-Fetch-Site": "same-site"}), status: 403, errText: "cross-site"},

		{name: "DNS rebinding: page", method: "GET", path: "/", host: "evil.example:" + itoa(port), status: 403, errText: `Host "evil.example:`},
		{name: "DNS rebinding: API", method: "POST", path: "/api/sql", body: sql, host: "evil.example:" + itoa(port),
			headers: with(map[string]string{"Origin": "http://evil.example:" + itoa(port)}), status: 403, errText: "Host"},
		{name: "loopback name, other port", method: "GET", path: "/api/status", host: "127.0.0.1:1", headers: ok, status: 403, errText: "Host"},
		{name: "no port", method: "GET", path: "/api/status", host: "127.0.0.1", headers: ok, status: 403, errText: "Host"},
		{name: "wildcard address", method: "GET", path: "/api/status", host: "0.0.0.0:" + itoa(port), headers: ok, status: 403, errText: "Host"},
		{name: "name ending in localhost", method: "GET", path: "/", host: "localhost.evil.example:" + itoa(port), status: 403, errText: "Host"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := send(t, hs.URL, tc)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.errText != "" && !strings.Contains(body, tc.errText) {
				t.Errorf("body %s does not say %q", body, tc.errText)
			}
			for k, want := range map[string]string{
				"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
			} {
				if got := h.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			csp := h.Get("Content-Security-Policy")
			for _, part := range []string{"frame-ancestors 'none'", "script-src 'self'", "connect-src 'self'", "default-src 'none'"} {
				if !strings.Contains(csp, part) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, part)
				}
			}
		})
	}
}

// TestConsoleRefusesFileAccess checks that the SQL console, even with the
// secret, runs only reads on the local copy: nothing it is sent creates,
// attaches or changes a file.
func TestConsoleRefusesFileAccess(t *testing.T) {
	srv, hs := guarded(t)
	dir := t.TempDir()
	created := filepath.Join(dir, "created.db")
	before := fileBytes(t, srv.DB().Path())
	for _, q := range []string{
		"ATTACH '" + created + "' AS w",
		"ATTACH DATABASE '" + created + "' AS w; CREATE TABLE w.t(x)",
		"VACUUM INTO '" + created + "'",
		"SELECT 1; VACUUM INTO '" + created + "'",
		"PRAGMA query_only=0",
		"PRAGMA writable_schema=1",
		"CREATE TABLE x(y)",
		"DELETE FROM ps_oplog",
		"INSERT INTO ps_untyped(type, id, data) VALUES ('todos', 'x', '{}')",
		"WITH x AS (SELECT 1) DELETE FROM ps_oplog",
		"SELECT load_extension('" + created + "')",
		"SELECT writefile('" + created + "', 'x')",
		"/* hide */ ATTACH '" + created + "' AS w",
		"EXPLAIN ATTACH '" + created + "' AS w",
	} {
		status, body, _ := send(t, hs.URL, hostileCase{method: "POST", path: "/api/sql", headers: map[string]string{diagnose.SecretHeader: testSecret},
			body: mustJSON(t, map[string]string{"sql": q})})
		if status != http.StatusBadRequest || !strings.Contains(body, "error") {
			t.Errorf("%s: status %d %s, want a 400 refusal", q, status, body)
		}
		if _, err := os.Stat(created); err == nil {
			t.Fatalf("%s created %s", q, created)
		}
	}
	if after := fileBytes(t, srv.DB().Path()); after != before {
		t.Errorf("the local database changed")
	}
	status, body, _ := send(t, hs.URL, hostileCase{method: "POST", path: "/api/sql", headers: map[string]string{diagnose.SecretHeader: testSecret},
		body: `{"sql":"SELECT count(*) AS n FROM ps_oplog"}`})
	if status != 200 || !strings.Contains(body, `"rows":[[0]]`) {
		t.Errorf("a read: %d %s", status, body)
	}
}

func send(t *testing.T, base string, tc hostileCase) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range tc.headers {
		req.Header.Set(k, v)
	}
	if tc.host != "" {
		req.Host = tc.host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, "error: " + e.Error, resp.Header
	}
	return resp.StatusCode, string(b), resp.Header
}

func fileBytes(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
