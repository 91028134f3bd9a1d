package compat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/powersync-go/powersync/internal/testenv"
)

// dashInstance is a running `powersync dev` with its admin token.
type dashInstance struct {
	devInstance
	adminToken string
}

// startDashInstance runs `powersync dev` in this process.
func startDashInstance(t *testing.T) *dashInstance {
	t.Helper()
	d := startDev(t)
	return &dashInstance{devInstance: *d, adminToken: d.AdminToken}
}

func (d *dashInstance) setDevTokens(t *testing.T, on bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.endpoint+"/api/admin/v1/settings", strings.NewReader(fmt.Sprintf(`{"development_tokens":%v}`, on)))
	req.Header.Set("Authorization", "Bearer "+d.adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("settings: %d", resp.StatusCode)
	}
}

// browserContext starts headless Chromium for the test.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	path := testenv.LookPath(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// waitText waits until the element's text contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(document.querySelector(%q)?.textContent || '').includes(%q)`, sel, want)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
		if err != nil {
			return fmt.Errorf("waiting for %q in %s: %w", want, sel, err)
		}
		return nil
	})
}

// screenshot writes a PNG to $POWERSYNC_SCREENSHOT_DIR (docs/images when
// refreshing the documentation); without it nothing is written.
func screenshot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		dir := os.Getenv("POWERSYNC_SCREENSHOT_DIR")
		if dir == "" {
			return nil
		}
		buf, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), buf, 0o644)
	})
}

// do runs the steps one by one, each within 40 s, and says which failed.
func do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	for i, st := range steps {
		sctx, cancel := context.WithTimeout(ctx, 40*time.Second)
		err := chromedp.Do(sctx, st)
		cancel()
		if err != nil {
			var text string
			if v, e := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`)); e == nil {
				text = v
			}
			return fmt.Errorf("step %d: %w\npage text:\n%s", i+1, err, text)
		}
	}
	return nil
}

// jsDo evaluates a JavaScript expression for its effect.
func jsDo(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return err
	})
}

// run runs an action that returns a value, or ends the test.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestDashboardDevTokens drives /dashboard in headless Chromium: sign in
// with the admin token, turn development tokens on and save, Connect, enter
// a user ID, Generate Token, Copy. The official Node SDK syncs that user's
// rows with the token. Turning development tokens off in the dashboard ends
// the SDK's open stream, and the token is then refused with the reason.
func TestDashboardDevTokens(t *testing.T) {
	node := requireSDK(t)
	d := startDashInstance(t)
	d.setDevTokens(t, false) // the test turns them on in the dashboard
	ctx := browserContext(t)

	if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "clipboard-write"}, Setting: browser.PermissionSettingGranted, Origin: d.endpoint,
	}); err != nil {
		t.Logf("clipboard permission: %v (the page falls back to execCommand)", err)
	}
	err := do(ctx,
		chromedp.Navigate(d.endpoint+"/dashboard/"),
		chromedp.WaitVisible(chromedp.ID("admin-token")),
		screenshot("dashboard-sign-in.png"),
		// A wrong admin token is refused.
		chromedp.SendKeys(chromedp.ID("admin-token"), "not-the-admin-token"),
		chromedp.Click(chromedp.ID("signin-button")),
		waitText("#signin-error", "not an admin API token"),
		jsDo(`document.getElementById('admin-token').value = ''`),
		chromedp.SendKeys(chromedp.ID("admin-token"), d.adminToken),
		chromedp.Click(chromedp.ID("signin-button")),
		chromedp.WaitVisible(chromedp.ID("client-auth")),
		waitText("#stat-state", "Active"),
		waitText("#stat-clients", "0"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if run(t, ctx, chromedp.JavascriptAttribute[bool](chromedp.ID("dev-tokens"), "checked")) {
		t.Fatal("development tokens show as on after they were turned off")
	}
	err = do(ctx,
		chromedp.Click(chromedp.ID("dev-tokens")),
		chromedp.Click(chromedp.ID("save-settings")),
		waitText("#settings-status", "Saved. Development tokens are on."),
		waitText("#sync-content", "request.user_id()"),
		screenshot("dashboard-overview.png"),
		chromedp.Click(chromedp.ID("connect-button")),
		chromedp.WaitVisible(chromedp.ID("user-id")),
		waitText("#connect-dialog", "auth.user_id()"),
		waitText("#connect-dialog", "request.user_id()"),
		chromedp.SendKeys(chromedp.ID("user-id"), "test-user"),
		chromedp.Click(chromedp.ID("generate-button")),
		chromedp.WaitVisible(chromedp.ID("token-result")),
		chromedp.Click(chromedp.ID("copy-button")),
		waitText("#copy-status", "Copied."),
		waitText("#token-expiry", "20"),
		screenshot("dashboard-token.png"),
	)
	if err != nil {
		t.Fatal(err)
	}
	token := run(t, ctx, chromedp.Value(chromedp.ID("token-output")))
	link := run(t, ctx, chromedp.AttributeValue(chromedp.ID("diagnostics-link"), "href"))
	href, hrefOK := link.Value, link.Exists
	if strings.Count(token, ".") != 2 {
		t.Fatalf("token %q", token)
	}
	if u, err := url.Parse(href); !hrefOK || err != nil || u.Query().Get("token") != token || u.Query().Get("endpoint") == "" {
		t.Errorf("diagnostics link %q", href)
	}

	// The official SDK syncs test-user's rows with the dashboard's token.
	var fetches atomic.Int64
	ts := &tokenServer{Server: httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]string{"token": token})
	}))}
	t.Cleanup(ts.Close)
	c := startClient(t, node, &d.devInstance, ts, "dashboard-token")
	c.eventually(t, "test-user's lists and todos synced", 60*time.Second, func() bool {
		return c.count(t, "SELECT count(*) FROM lists WHERE owner_id = 'test-user'") == 2 &&
			c.count(t, "SELECT count(*) FROM todos WHERE owner_id = 'test-user'") == 6
	})
	if n := c.count(t, "SELECT count(*) FROM lists WHERE owner_id <> 'test-user'"); n != 0 {
		t.Fatalf("the client got %d lists of other users", n)
	}
	c.eventually(t, "the SDK reports connected", 30*time.Second, func() bool {
		st, _ := c.call(t, map[string]any{"cmd": "status"})["status"].(map[string]any)
		return st["connected"] == true
	})
	err = do(ctx, waitText("#stat-clients", "1"), chromedp.Click(chromedp.ID("close-dialog")))
	if err != nil {
		t.Fatal(err)
	}

	// Off in the dashboard: the open stream ends and the SDK cannot
	// reconnect with the token.
	err = do(ctx,
		chromedp.Click(chromedp.ID("dev-tokens")),
		chromedp.Click(chromedp.ID("save-settings")),
		waitText("#settings-status", "Saved. Development tokens are off"),
	)
	if err != nil {
		t.Fatal(err)
	}
	before := fetches.Load()
	c.eventually(t, "the SDK's stream ends and it stays disconnected", 30*time.Second, func() bool {
		st, _ := c.call(t, map[string]any{"cmd": "status"})["status"].(map[string]any)
		return st["connected"] == false && fetches.Load() > before
	})
	req, _ := http.NewRequest(http.MethodPost, d.endpoint+"/sync/stream", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), "PSYNC_S2101") ||
		!strings.Contains(string(body), "Development tokens are disabled for this instance") {
		t.Fatalf("token after turning development tokens off: %d %s", resp.StatusCode, body)
	}
	err = do(ctx, waitText("#stat-clients", "0"), screenshot("dashboard-dev-tokens-off.png"))
	if err != nil {
		t.Fatal(err)
	}
}
