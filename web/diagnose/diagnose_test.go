package diagnose_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/internal/testenv"
	"github.com/powersync-go/powersync/web/diagnose"
)

// startDev runs `powersync dev` in-process (devtest) and returns it with
// its development token for test-user.
func startDev(t *testing.T) (d *devtest.Instance, endpoint, token string) {
	t.Helper()
	d = devtest.Dev(t, devtest.Options{})
	return d, d.Endpoint, d.DevToken
}

// recorder counts sync requests that hold no buckets (fresh downloads).
type recorder struct {
	fresh, all atomic.Int64
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == "/sync/stream" && req.Body != nil {
		r.all.Add(1)
		b, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(b))
		var body struct {
			Buckets []any `json:"buckets"`
		}
		if json.Unmarshal(b, &body) == nil && len(body.Buckets) == 0 {
			r.fresh.Add(1)
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

type statusJSON struct {
	Configured bool `json:"configured"`
	Sync       struct {
		HasSynced bool `json:"has_synced"`
	} `json:"sync"`
	Token *struct {
		Subject   string  `json:"subject"`
		ExpiresIn float64 `json:"expires_in_seconds"`
	} `json:"token"`
	Buckets []struct {
		Name     string `json:"name"`
		Priority int    `json:"priority"`
		Ops      int64  `json:"ops"`
		Checksum int32  `json:"checksum"`
		Expected int32  `json:"expected_checksum"`
	} `json:"buckets"`
	Tables []struct {
		Name    string   `json:"name"`
		Rows    int64    `json:"rows"`
		Columns []string `json:"columns"`
	} `json:"tables"`
}

// testSecret is the per-run secret the tests start their servers with.
const testSecret = "test-secret-0123456789"

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(diagnose.SecretHeader, testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func postJSON(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(diagnose.SecretHeader, testSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// waitSynced waits until the status API says synced, asking it again at
// every status change of the server's client.
func waitSynced(t *testing.T, srv *diagnose.Server, base string) statusJSON {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var st statusJSON
	err := srv.DB().WaitFor(ctx, func(client.SyncStatus) bool {
		st = statusJSON{}
		getJSON(t, base+"/api/status", &st)
		return st.Sync.HasSynced && len(st.Tables) == 3
	})
	if err != nil {
		t.Fatalf("not synced: %+v", st)
	}
	return st
}

// serveDiagnose starts a diagnostics server on a fresh database file,
// its requests to the service counted by rec, and serves its UI on hs;
// both are closed when the test ends.
func serveDiagnose(t *testing.T) (srv *diagnose.Server, hs *httptest.Server, rec *recorder) {
	t.Helper()
	rec = &recorder{}
	srv, err := diagnose.Open(context.Background(), diagnose.Options{DBPath: filepath.Join(t.TempDir(), "d.db"),
		HTTPClient: &http.Client{Transport: rec}, RetryDelay: 50 * time.Millisecond, Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	hs = httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return srv, hs, rec
}

func TestAPI(t *testing.T) {
	dev, endpoint, token := startDev(t)
	srv, hs, rec := serveDiagnose(t)

	var st statusJSON
	getJSON(t, hs.URL+"/api/status", &st)
	if st.Configured {
		t.Fatalf("configured without a token")
	}
	if code, m := postJSON(t, hs.URL+"/api/connect", map[string]string{"token": "not-a-jwt"}); code != 400 || !strings.Contains(m["error"].(string), "not a JWT") {
		t.Errorf("bad token: %d %v", code, m)
	}
	// The dev token's aud is not a URL, so the endpoint is needed.
	if code, m := postJSON(t, hs.URL+"/api/connect", map[string]string{"token": token}); code != 400 || !strings.Contains(m["error"].(string), "endpoint") {
		t.Errorf("no endpoint: %d %v", code, m)
	}
	if code, m := postJSON(t, hs.URL+"/api/connect", map[string]string{"token": token, "endpoint": endpoint}); code != 200 {
		t.Fatalf("connect: %d %v", code, m)
	}
	st = waitSynced(t, srv, hs.URL)
	if st.Token == nil || st.Token.Subject != "test-user" || st.Token.ExpiresIn < 3600 {
		t.Errorf("token: %+v", st.Token)
	}
	if len(st.Buckets) != 2 {
		t.Fatalf("buckets: %+v", st.Buckets)
	}
	// Opening the page again with the same ?token= keeps the connection.
	streams := rec.all.Load()
	if code, m := postJSON(t, hs.URL+"/api/connect", map[string]string{"token": token, "endpoint": endpoint + "/"}); code != 200 {
		t.Fatalf("connect again: %d %v", code, m)
	}
	// A change made after it arrives on the stream that was open: had the
	// connect reconnected, the new stream would be counted by then.
	dev.Exec(t, `INSERT INTO announcements (id, message) VALUES ('after-connect', 'x')`)
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.DB().WaitFor(wctx, func(client.SyncStatus) bool {
		r, err := srv.DB().Query(wctx, `SELECT count(*) FROM announcements WHERE id = 'after-connect'`)
		return err == nil && r.Rows[0][0] == int64(1)
	}); err != nil {
		t.Fatal("the change made after connecting again did not arrive")
	}
	if n := rec.all.Load(); n != streams {
		t.Errorf("connecting again with the same token opened %d new streams", n-streams)
	}
	for _, b := range st.Buckets {
		if b.Checksum != b.Expected || b.Ops == 0 || b.Priority != 3 {
			t.Errorf("bucket %+v", b)
		}
	}
	want := map[string]int64{"announcements": 1, "lists": 2, "todos": 6}
	for _, tb := range st.Tables {
		if want[tb.Name] != tb.Rows {
			t.Errorf("table %s: %d rows, want %d", tb.Name, tb.Rows, want[tb.Name])
		}
		if tb.Name == "todos" && strings.Join(tb.Columns, ",") != "id,completed,created_at,description,list_id,owner_id" {
			t.Errorf("todos columns: %v", tb.Columns)
		}
	}
	var res struct {
		Columns []string `json:"columns"`
		Rows    [][]any  `json:"rows"`
	}
	getJSON(t, hs.URL+"/api/table?name=todos", &res)
	if len(res.Rows) != 6 || res.Columns[0] != "id" {
		t.Errorf("table page: %+v", res)
	}
	code, m := postJSON(t, hs.URL+"/api/sql", map[string]string{"sql": "SELECT count(*) AS n FROM todos WHERE completed = 1"})
	if code != 200 || m["rows"].([]any)[0].([]any)[0] != float64(4) {
		t.Errorf("sql: %d %v", code, m)
	}
	if code, m := postJSON(t, hs.URL+"/api/sql", map[string]string{"sql": "SELEC nonsense"}); code != 400 || m["error"] == nil {
		t.Errorf("bad sql: %d %v", code, m)
	}
	if code, _ := postJSON(t, hs.URL+"/api/sql", map[string]string{"sql": ""}); code != 400 {
		t.Errorf("empty sql: %d", code)
	}
	if code, _ := postJSON(t, hs.URL+"/api/table", nil); code != 405 {
		t.Errorf("POST /api/table: %d", code)
	}
	// Stream subscriptions are kept by the client and listed.
	sub := map[string]any{"stream": "list_todos", "parameters": map[string]any{"list": "L1"}, "priority": 1}
	if code, m := postJSON(t, hs.URL+"/api/subscribe", sub); code != 200 {
		t.Fatalf("subscribe: %d %v", code, m)
	}
	var subs struct {
		Subscriptions []struct {
			Stream     string         `json:"stream"`
			Parameters map[string]any `json:"parameters"`
			Priority   *int           `json:"priority"`
		} `json:"subscriptions"`
	}
	getJSON(t, hs.URL+"/api/status", &subs)
	if len(subs.Subscriptions) != 1 || subs.Subscriptions[0].Parameters["list"] != "L1" || *subs.Subscriptions[0].Priority != 1 {
		t.Errorf("subscriptions %+v", subs)
	}
	if code, _ := postJSON(t, hs.URL+"/api/subscribe", map[string]any{"stream": "x", "priority": 9}); code != 400 {
		t.Errorf("priority 9: %d", code)
	}
	if code, m := postJSON(t, hs.URL+"/api/unsubscribe", sub); code != 200 {
		t.Fatalf("unsubscribe: %d %v", code, m)
	}
	getJSON(t, hs.URL+"/api/status", &subs)
	if len(subs.Subscriptions) != 0 {
		t.Errorf("after unsubscribe: %+v", subs)
	}
	waitSynced(t, srv, hs.URL)

	before := rec.fresh.Load()
	if code, m := postJSON(t, hs.URL+"/api/redownload", map[string]string{}); code != 200 {
		t.Fatalf("redownload: %d %v", code, m)
	}
	waitSynced(t, srv, hs.URL)
	if rec.fresh.Load() != before+1 {
		t.Errorf("fresh downloads: %d, want %d", rec.fresh.Load(), before+1)
	}
}

func TestEndpointFromToken(t *testing.T) {
	// Unsigned tokens: only the payload matters here.
	mk := func(payload string) string {
		return "eyJhbGciOiJIUzI1NiJ9." + b64(payload) + ".c2ln"
	}
	tests := []struct{ tok, want string }{
		{mk(`{"aud":"https://example.com/"}`), "https://example.com"},
		{mk(`{"aud":["powersync","http://127.0.0.1:8080"]}`), "http://127.0.0.1:8080"},
		{mk(`{"aud":"powersync-dev"}`), ""},
		{"garbage", ""},
	}
	for _, tt := range tests {
		if got := auth.EndpointFromToken(tt.tok); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.tok, got, tt.want)
		}
	}
}

func b64(s string) string {
	const enc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var out strings.Builder
	b := []byte(s)
	for i := 0; i < len(b); i += 3 {
		var n uint32
		k := min(3, len(b)-i)
		for j := 0; j < 3; j++ {
			n <<= 8
			if j < k {
				n |= uint32(b[i+j])
			}
		}
		for j := 0; j < k+1; j++ {
			out.WriteByte(enc[(n>>(18-6*j))&63])
		}
	}
	return out.String()
}

// TestPageInChromium drives the page in headless Chromium: ?token= signs
// in, the buckets and rows of the user appear, an SQL query runs, and
// "Clear & re-download" downloads everything again. With
// POWERSYNC_UPDATE_SCREENSHOTS=1 the screenshots go to docs/images/.
func TestPageInChromium(t *testing.T) {
	chrome := testenv.LookPath(t, "chromium")
	_, endpoint, token := startDev(t)
	srv, hs, rec := serveDiagnose(t)

	shots := t.TempDir()
	if os.Getenv("POWERSYNC_UPDATE_SCREENSHOTS") == "1" {
		shots = "../../docs/images"
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1280, 1000), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	// The page is opened the way the command prints it: the secret in the
	// fragment. The page keeps it and sends it with every API call.
	u := hs.URL + "/?token=" + token + "&endpoint=" + endpoint + "#secret=" + testSecret
	err := chromedp.Do(ctx,
		chromedp.Navigate(u),
		chromedp.WaitVisible(`#app`),
		waitFor(`document.querySelectorAll('#buckets tbody tr').length === 2 && document.querySelectorAll('#tables button').length === 3`),
		chromedp.Click(`#tables button[data-table="todos"]`),
		waitFor(`document.querySelectorAll('#table-view tbody tr').length === 6`),
	)
	if err != nil {
		t.Fatalf("overview: %v", err)
	}
	// The page took the secret out of the address bar (it stays in the
	// tab's sessionStorage) and kept the rest of the address.
	if addr, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`)); err != nil || strings.Contains(addr, "secret") || !strings.Contains(addr, "?token=") {
		t.Errorf("address after load: %q %v", addr, err)
	}
	bucketRows := evalInt(t, ctx, `document.querySelectorAll('#buckets tbody tr').length`)
	tableRows := evalInt(t, ctx, `document.querySelectorAll('#table-view tbody tr').length`)
	userText, err := chromedp.Run(ctx, chromedp.Text(`#token`))
	if err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, filepath.Join(shots, "diagnose-overview.png"))
	if bucketRows != 2 || tableRows != 6 || !strings.Contains(userText, "test-user") {
		t.Errorf("buckets %d, todo rows %d, token card %q", bucketRows, tableRows, userText)
	}

	err = chromedp.Do(ctx,
		chromedp.SetValue(`#sql`, `SELECT description, completed FROM todos WHERE completed = 1 ORDER BY id`),
		chromedp.Click(`#run-sql`),
		waitFor(`document.querySelectorAll('#sql-result tbody tr').length === 4`),
		chromedp.ScrollIntoView(`#sql-result`),
	)
	if err != nil {
		t.Fatalf("sql console: %v", err)
	}
	sqlInfo, err := chromedp.Run(ctx, chromedp.Text(`#sql-info`))
	if err != nil {
		t.Fatal(err)
	}
	shot(t, ctx, filepath.Join(shots, "diagnose-sql.png"))
	if !strings.Contains(sqlInfo, "4 row(s)") {
		t.Errorf("sql info %q", sqlInfo)
	}

	before := rec.fresh.Load()
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; undefined`),
		chromedp.Click(`#redownload`),
	)
	if err != nil {
		t.Fatalf("re-download: %v", err)
	}
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.DB().WaitFor(rctx, func(s client.SyncStatus) bool { return rec.fresh.Load() > before && s.HasSynced }); err != nil {
		t.Fatalf("no fresh download after Clear & re-download (fresh %d → %d)", before, rec.fresh.Load())
	}
	if err := chromedp.Do(ctx, waitFor(`document.querySelectorAll('#buckets tbody tr').length === 2 && document.querySelector('#sync').textContent.includes('yes')`)); err != nil {
		t.Fatalf("page after re-download: %v", err)
	}
}

func evalInt(t *testing.T, ctx context.Context, expr string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return n
}

func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	writeShot(t, path, png)
}

// waitFor polls a JavaScript condition in the page.
func waitFor(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))
}

func writeShot(t *testing.T, path string, png []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
