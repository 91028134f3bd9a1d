package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/devtest"
)

// TestVerifyInstanceDevToken: `verify token` accepts and explains an
// instance development token of a real `powersync dev` instance, through
// its admin API while it runs (the config's Pebble storage is locked then,
// and verify says so) and from its bucket storage once it stopped; with
// the setting off it rejects the token with the service's reason.
func TestVerifyInstanceDevToken(t *testing.T) {
	clearConfigEnv(t)
	t.Setenv("PS_ADMIN_TOKEN", "")
	inst := devtest.Dev(t, devtest.Options{})
	d := &devInstance{dir: inst.Dir, endpoint: inst.Endpoint, adminToken: inst.AdminToken}
	code, tok, errOut := runCLI(t, "generate", "token", "--api-url", d.endpoint, "--admin-token", d.adminToken, "--subject", "test-user")
	if code != 0 {
		t.Fatalf("generate token --api-url: %d %s", code, errOut)
	}
	tok = strings.TrimSpace(tok)
	kid := tokenKID(t, tok)
	cfg := d.dir + "/service.yaml"

	mustSay := func(t *testing.T, what, out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s does not say %q:\n%s", what, w, out)
			}
		}
	}

	// Through the admin API of the running instance.
	code, out, errOut := runCLI(t, "verify", "token", "--api-url", d.endpoint, "--admin-token", d.adminToken, tok)
	if code != 0 {
		t.Fatalf("verify --api-url: exit %d\n%s\n%s", code, out, errOut)
	}
	mustSay(t, "verify --api-url", out,
		"ACCEPTED by the instance development key (the admin API of "+d.endpoint+")",
		"  user id:   test-user",
		"Instance development token:",
		`  development key:    kid "`+kid+`" (EdDSA, instance development key)`,
		"  Development tokens: on (the instance accepts these tokens while the setting is on)")

	// -c with the instance's config while it runs: Pebble is locked; the
	// warning says so and what to run instead, and the token is not
	// accepted by the config's own keys.
	code, out, errOut = runCLI(t, "verify", "token", "-c", cfg, tok)
	if code != 1 {
		t.Errorf("verify -c while running: exit %d\n%s\n%s", code, out, errOut)
	}
	mustSay(t, "verify -c while running (stderr)", errOut,
		"bucket storage is in use by a running service", "only one process can open",
		"powersync verify token --api-url http://127.0.0.1:")
	mustSay(t, "verify -c while running", out, "REJECTED", "Instance development token:", "give the instance: --api-url")

	// -c and --api-url together: the admin token comes from api.tokens.
	code, out, _ = runCLI(t, "verify", "token", "-c", cfg, "--api-url", d.endpoint, tok)
	if code != 0 {
		t.Errorf("verify -c --api-url: exit %d\n%s", code, out)
	}

	// Setting off: rejected with the service's reason, and explained.
	if code, body := d.admin(t, "settings", `{"development_tokens":false}`); code != 200 {
		t.Fatalf("turn off: %d %s", code, body)
	}
	code, out, _ = runCLI(t, "verify", "token", "--api-url", d.endpoint, "--admin-token", d.adminToken, tok)
	if code != 1 {
		t.Errorf("verify while off: exit %d\n%s", code, out)
	}
	mustSay(t, "verify while off", out, "REJECTED: PSYNC_S2101 Development tokens are disabled for this instance",
		"  Development tokens: off (the instance rejects these tokens")

	// Wrong admin token, and a URL that is not an instance.
	code, _, errOut = runCLI(t, "verify", "token", "--api-url", d.endpoint, "--admin-token", "not-the-token", tok)
	if code != 1 || !strings.Contains(errOut, "the admin token was refused") {
		t.Errorf("wrong admin token: %d %s", code, errOut)
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<html>not an instance</html>`))
	}))
	defer other.Close()
	code, _, errOut = runCLI(t, "verify", "token", "--api-url", other.URL, "--admin-token", "x", tok)
	if code != 1 || !strings.Contains(errOut, "not the instance settings (is it a powersync instance?)") {
		t.Errorf("not an instance: %d %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "verify", "token", "--api-url", "file:///etc/passwd", "--admin-token", "x", tok)
	if code != 1 || !strings.Contains(errOut, "is not an http(s) URL") {
		t.Errorf("file URL: %d %s", code, errOut)
	}

	// On again, then stop the instance: -c reads its bucket storage.
	if code, body := d.admin(t, "settings", `{"development_tokens":true}`); code != 200 {
		t.Fatalf("turn on: %d %s", code, body)
	}
	if code := inst.Stop(t); code != 0 {
		t.Fatalf("dev exited with %d", code)
	}
	code, out, errOut = runCLI(t, "verify", "token", "-c", cfg, tok)
	if code != 0 {
		t.Fatalf("verify -c after stop: exit %d\n%s\n%s", code, out, errOut)
	}
	mustSay(t, "verify -c after stop", out,
		"ACCEPTED by the instance development key (bucket storage "+d.dir+"/storage)",
		`  development key:    kid "`+kid+`"`, "  Development tokens: on")
}

func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	h, _, err := auth.DecodeUnverified(tok)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid string }
	if err := json.Unmarshal(h, &hdr); err != nil || hdr.Kid == "" {
		t.Fatalf("header %s: no kid", h)
	}
	return hdr.Kid
}
