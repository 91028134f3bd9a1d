package cli_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/devtest"
)

// devInstance is `powersync dev` running in this process.
type devInstance struct {
	dir, endpoint, adminToken string
}

// startDevInstance runs `powersync dev` on a free port; it stops at the end
// of the test.
func startDevInstance(t *testing.T) *devInstance {
	t.Helper()
	t.Setenv("PS_ADMIN_TOKEN", "")
	i := devtest.Dev(t, devtest.Options{})
	if !strings.Contains(i.Stdout.String(), "Dashboard:          "+i.Endpoint+"/dashboard/") {
		t.Errorf("the banner has no dashboard URL:\n%s", i.Stdout)
	}
	return &devInstance{dir: i.Dir, endpoint: i.Endpoint, adminToken: i.AdminToken}
}

func (d *devInstance) admin(t *testing.T, path, body string) (int, string) {
	t.Helper()
	return adminPost(t, d.endpoint, d.adminToken, path, body)
}

func (d *devInstance) openStream(t *testing.T, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.endpoint+"/sync/stream", strings.NewReader(`{"raw_data":true}`))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestDevTokensFromInstance: `powersync dev` starts with development tokens
// on; `generate token --api-url --admin-token` gets a token signed by the
// instance key that syncs the user's rows; turning the setting off ends the
// open stream and refuses the token with the reason; on again accepts it.
func TestDevTokensFromInstance(t *testing.T) {
	d := startDevInstance(t)

	code, tok, errOut := runCLI(t, "generate", "token", "--api-url", d.endpoint, "--admin-token", d.adminToken, "--subject", "test-user")
	if code != 0 {
		t.Fatalf("generate token --api-url: %d %s", code, errOut)
	}
	tok = strings.TrimSpace(tok)
	h, p, err := auth.DecodeUnverified(tok)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Alg, Kid string }
	var claims struct {
		Sub string
		Aud []string
		Iat int64
		Exp int64
	}
	json.Unmarshal(h, &hdr)
	json.Unmarshal(p, &claims)
	if hdr.Alg != "EdDSA" || !strings.HasPrefix(hdr.Kid, "powersync-dev-") {
		t.Errorf("header %s: want the instance development key", h)
	}
	if claims.Sub != "test-user" || len(claims.Aud) == 0 || claims.Aud[0] != d.endpoint || claims.Exp-claims.Iat != 12*3600 {
		t.Errorf("claims %s", p)
	}
	if !strings.Contains(errOut, "development key") {
		t.Errorf("stderr does not say which key signed: %s", errOut)
	}

	resp := d.openStream(t, tok)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream with the instance token: %d %s", resp.StatusCode, b)
	}
	r := bufio.NewReader(resp.Body)
	sawRow := false
	for !sawRow {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before test-user's data: %v", err)
		}
		if strings.Contains(line, `"data"`) && strings.Contains(line, "test-user-list-1") {
			sawRow = true
		}
		if strings.Contains(line, "user-2-") {
			t.Fatalf("test-user got another user's row: %s", line)
		}
	}

	// Off: the open stream ends.
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		ended <- err
	}()
	if code, body := d.admin(t, "settings", `{"development_tokens":false}`); code != 200 {
		t.Fatalf("turn off: %d %s", code, body)
	}
	select {
	case <-ended:
	case <-time.After(15 * time.Second):
		t.Fatal("the open stream of a development token did not end when development tokens were turned off")
	}
	resp.Body.Close()

	// The same token is refused, with the reason.
	resp = d.openStream(t, tok)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(b), "PSYNC_S2101") || !strings.Contains(string(b), "Development tokens are disabled for this instance") {
		t.Fatalf("token while off: %d %s", resp.StatusCode, b)
	}
	// Minting is refused too, with the reason.
	code, _, errOut = runCLI(t, "generate", "token", "--api-url", d.endpoint, "--admin-token", d.adminToken, "--subject", "test-user")
	if code == 0 || !strings.Contains(errOut, "disabled") {
		t.Errorf("generate while off: %d %s", code, errOut)
	}

	// On again: the token works again.
	if code, body := d.admin(t, "settings", `{"development_tokens":true}`); code != 200 {
		t.Fatalf("turn on: %d %s", code, body)
	}
	resp = d.openStream(t, tok)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token after turning on again: %d", resp.StatusCode)
	}
}

func TestGenerateTokenAPIURLErrors(t *testing.T) {
	d := startDevInstance(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"wrong admin token", []string{"--api-url", d.endpoint, "--admin-token", "nope"}, "check the admin token"},
		{"admin token without api url", []string{"--admin-token", d.adminToken}, "--admin-token needs --api-url"},
		{"admin token with a local key", []string{"--api-url", d.endpoint, "--admin-token", d.adminToken, "--private-key", "x.pem"}, "cannot be combined"},
		{"audience is local only", []string{"--api-url", d.endpoint, "--admin-token", d.adminToken, "--audience", "a"}, "applies to locally signed tokens"},
		{"too long", []string{"--api-url", d.endpoint, "--admin-token", d.adminToken, "--expires-in", "25h"}, "expires_in_seconds"},
		{"not a URL", []string{"--api-url", "ftp://x", "--admin-token", d.adminToken}, "not an http(s) URL"},
	} {
		code, _, errOut := runCLI(t, append([]string{"generate", "token", "--subject", "u"}, c.args...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: %d %q, want an error with %q", c.name, code, errOut, c.want)
		}
	}
	// PS_ADMIN_TOKEN in the environment with no config key to sign with:
	// the instance signs.
	t.Setenv("PS_ADMIN_TOKEN", d.adminToken)
	code, out, errOut := runCLI(t, "generate", "token", "--api-url", d.endpoint, "--subject", "u", "--json")
	if code != 0 || !strings.Contains(out, `"kid": "powersync-dev-`) {
		t.Errorf("PS_ADMIN_TOKEN: %d %s %s", code, out, errOut)
	}
	// With a config that has an HMAC key, the key signs (as the reference
	// CLI does) although PS_ADMIN_TOKEN is set.
	code, out, errOut = runCLI(t, "generate", "token", "-c", filepath.Join(d.dir, "service.yaml"), "--api-url", d.endpoint, "--subject", "u", "--json")
	if code != 0 || !strings.Contains(out, `"alg": "HS256"`) {
		t.Errorf("PS_ADMIN_TOKEN with an HMAC config key: %d %s %s", code, out, errOut)
	}
}
