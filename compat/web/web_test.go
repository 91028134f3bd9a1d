// Package web_test runs the official PowerSync web SDK (@powersync/web,
// pinned in package.json) in headless Chromium against an in-process
// `powersync dev`. The page (index.html, src/main.js) is bundled with vite
// at the start of the test run; `make test-deps` installs the npm packages
// and Chromium. Under plain `go test` the test skips when node, the
// packages or Chromium are missing (and fails under make test).
package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/internal/testenv"
)

var (
	buildOnce sync.Once
	distDir   string
	buildErr  error
)

// page bundles the test page with vite once per test run and returns the
// folder with index.html and its assets.
func page(t *testing.T) string {
	t.Helper()
	node := testenv.LookPath(t, "node")
	for _, f := range []string{"node_modules/@powersync/web/package.json", "node_modules/vite/bin/vite.js"} {
		if _, err := os.Stat(f); err != nil {
			testenv.Missing(t, "compat/web/"+f, "npm packages of compat/web; `make test-deps` installs them")
		}
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "powersync-compat-web")
		if err != nil {
			buildErr = err
			return
		}
		distDir = filepath.Join(dir, "dist")
		cmd := exec.Command(node, "node_modules/vite/bin/vite.js", "build", "--outDir", distDir, "--emptyOutDir")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("vite build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return distDir
}

// browser starts headless Chromium (the flags of the repo's other browser
// tests) and returns a context for one tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := testenv.LookPath(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	var logMu sync.Mutex
	var logs []string
	ctx, cancel := chromedp.NewContext(actx)
	lerr := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventConsoleAPICalled); ok {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			logMu.Lock()
			logs = append(logs, string(e.Type)+": "+strings.Join(parts, " "))
			logMu.Unlock()
		}
	})
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	if err := errors.Join(lerr, chromedp.Do(ctx)); err != nil {
		cancelTimeout()
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logMu.Lock()
			n := max(0, len(logs)-60)
			t.Logf("browser console (last %d lines):\n%s", len(logs)-n, strings.Join(logs[n:], "\n"))
			logMu.Unlock()
		}
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	return ctx
}

// waitFor resolves in the page once the query's rows, as JSON, equal want;
// the page re-runs the query whenever its tables change.
func waitFor(t *testing.T, parent context.Context, what, query string, want any) {
	t.Helper()
	w, _ := json.Marshal(want)
	js := fmt.Sprintf(`window.ps.waitFor(%q, [], %q).then(() => true)`, query, string(w))
	ctx, cancel := context.WithTimeout(parent, 2*time.Minute)
	defer cancel()
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js, chromedp.EvalAwaitPromise)); err != nil || !ok {
		sctx, scancel := context.WithTimeout(parent, 10*time.Second)
		status, _ := chromedp.Run(sctx, chromedp.Evaluate[map[string]any](`window.ps.status()`))
		pageErr, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`window.ps.error`))
		last, _ := chromedp.Run(sctx, chromedp.Evaluate[string](fmt.Sprintf(`window.ps.last[%q]`, query)))
		scancel()
		t.Fatalf("waiting for %s: %v\nlast rows %s, want %s\n(SDK status %v, page error %q)", what, err, last, w, status, pageErr)
	}
}

// TestOfficialWebSDK syncs test-user's rows and live changes into the web
// SDK running in Chromium, over each connection method the SDK offers.
func TestOfficialWebSDK(t *testing.T) {
	dist := page(t)
	site := httptest.NewServer(http.FileServer(http.Dir(dist)))
	t.Cleanup(site.Close)
	d := devtest.Dev(t, devtest.Options{})

	const rows = 1000
	src := d.Source(t)
	tx, err := src.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if _, err := tx.Exec(`INSERT INTO todos (id, list_id, description, completed, owner_id) VALUES (?, 'l1', ?, ?, 'web-user')`,
			fmt.Sprintf("web-%04d", i), fmt.Sprintf("todo %d from the source", i), i%2); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	// What the service must answer every sync stream of each method with:
	// a WebSocket upgrade, or BSON (the web SDK prefers it over HTTP).
	answers := map[string]string{"web-socket": "websocket", "http": "application/vnd.powersync.bson-stream"}
	for _, method := range []string{"web-socket", "http"} {
		t.Run(method, func(t *testing.T) {
			// The proxy first, so that it closes after the browser.
			proxy := newAnswerProxy(t, d.Endpoint)
			ctx := browser(t)
			q := url.Values{
				"endpoint": {proxy.URL},
				"token":    {d.Token(t, "web-user", time.Hour)},
				"method":   {method},
				"db":       {"test-" + method + ".db"},
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/index.html?"+q.Encode())); err != nil {
				t.Fatal(err)
			}
			waitFor(t, ctx, "the initial sync", `SELECT count(*) AS n, sum(completed) AS done FROM todos`,
				[]map[string]int{{"n": rows, "done": rows / 2}})
			waitFor(t, ctx, "the global bucket", `SELECT count(*) AS n FROM announcements`, []map[string]int{{"n": 1}})

			id := "live-" + method
			d.Exec(t, `INSERT INTO todos (id, description, completed, owner_id) VALUES (?, 'inserted while connected', 0, 'web-user')`, id)
			waitFor(t, ctx, "the inserted row", fmt.Sprintf(`SELECT description, completed FROM todos WHERE id = '%s'`, id),
				[]map[string]any{{"description": "inserted while connected", "completed": 0}})
			d.Exec(t, `UPDATE todos SET description = 'updated while connected', completed = 1 WHERE id = ?`, id)
			waitFor(t, ctx, "the updated row", fmt.Sprintf(`SELECT description, completed FROM todos WHERE id = '%s'`, id),
				[]map[string]any{{"description": "updated while connected", "completed": 1}})
			d.Exec(t, `DELETE FROM todos WHERE id = ?`, id)
			waitFor(t, ctx, "the deleted row gone", fmt.Sprintf(`SELECT count(*) AS n FROM todos WHERE id = '%s'`, id),
				[]map[string]int{{"n": 0}})

			type sdkStatus struct {
				Connected     bool   `json:"connected"`
				HasSynced     bool   `json:"hasSynced"`
				DownloadError string `json:"downloadError"`
				Method        string `json:"method"`
			}
			status, err := chromedp.Run(ctx, chromedp.Evaluate[sdkStatus](`window.ps.status()`))
			if err != nil {
				t.Fatal(err)
			}
			pageErr, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.ps.error`))
			if err != nil {
				t.Fatal(err)
			}
			if !status.Connected || !status.HasSynced || status.Method != method || pageErr != "" {
				t.Errorf("status %+v, page error %q", status, pageErr)
			}
			if got := proxy.seen(); len(got) != 1 || got[answers[method]] == 0 {
				t.Errorf("the service answered the sync streams with %v, want only %q", got, answers[method])
			}
		})
	}
}

// answerProxy passes the browser's requests to the service and records how
// the service answered each sync stream (the Content-Type of a 200, or
// "websocket" for an upgrade), so the test knows which transport ran.
type answerProxy struct {
	*httptest.Server
	mu      sync.Mutex
	answers map[string]int
}

func newAnswerProxy(t *testing.T, endpoint string) *answerProxy {
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &answerProxy{answers: map[string]int{}}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.URL.Path != "/sync/stream" || resp.Request.Method == http.MethodOptions {
				return nil
			}
			answer := fmt.Sprintf("%s %d", resp.Request.Method, resp.StatusCode)
			switch resp.StatusCode {
			case http.StatusOK:
				answer = resp.Header.Get("Content-Type")
			case http.StatusSwitchingProtocols:
				answer = "websocket"
			}
			p.mu.Lock()
			p.answers[answer]++
			p.mu.Unlock()
			return nil
		},
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(func() {
		// A sync stream never ends by itself: cut the connections, then close.
		p.CloseClientConnections()
		p.Close()
	})
	return p
}

func (p *answerProxy) seen() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.answers)
}
