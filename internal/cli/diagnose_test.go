package cli_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/web/diagnose"
)

// diagnoseStatus GETs url with the secret (when not "") and header pairs,
// returning the status code.
func diagnoseStatus(t *testing.T, url, secret string, kv ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		req.Header.Set(diagnose.SecretHeader, secret)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDiagnoseCommand runs `powersync diagnose` against an in-process
// `powersync dev` and reads its status API until the user's data is synced.
func TestDiagnoseCommand(t *testing.T) {
	d := devtest.Dev(t, devtest.Options{})
	tok := d.Token(t, "test-user", time.Hour)

	code, _, errOut := runCLI(t, "diagnose", "--token", tok, "--db", filepath.Join(t.TempDir(), "x.db"))
	if code == 0 || !strings.Contains(errOut, "--endpoint") {
		t.Errorf("token without a URL aud and no --endpoint: %d %s", code, errOut)
	}

	diag := devtest.Run(t, []string{"diagnose", "--endpoint", d.Endpoint, "--token", tok,
		"--db", filepath.Join(t.TempDir(), "d.db"), "--listen", "127.0.0.1:0"}, devtest.Options{})
	page := diag.Endpoint + "/"
	if !strings.Contains(diag.Stdout.String(), "Diagnostics page: "+page) {
		t.Errorf("the printed page is not the reported one:\n%s", diag.Stdout)
	}
	if !strings.Contains(diag.Stdout.String(), "Diagnostics page: "+page+"#secret="+diag.AdminToken+"\n") || len(diag.AdminToken) < 32 {
		t.Errorf("the printed page does not carry the run's secret %q:\n%s", diag.AdminToken, diag.Stdout)
	}
	deadline := time.Now().Add(30 * time.Second)
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The API refuses a request without the secret, and one from another
	// site's page even with it.
	if code := diagnoseStatus(t, page+"api/status", ""); code != http.StatusUnauthorized {
		t.Errorf("status without the secret: %d", code)
	}
	if code := diagnoseStatus(t, page+"api/status", diag.AdminToken, "Origin", "http://evil.example"); code != http.StatusForbidden {
		t.Errorf("status from another origin: %d", code)
	}
	for {
		var st struct {
			Sync struct {
				HasSynced bool `json:"has_synced"`
			} `json:"sync"`
			Totals map[string]any `json:"totals"`
		}
		req, _ := http.NewRequest(http.MethodGet, page+"api/status", nil)
		req.Header.Set(diagnose.SecretHeader, diag.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if st.Sync.HasSynced && st.Totals["rows"] == float64(9) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not synced: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
