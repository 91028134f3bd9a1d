package cli_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/devtest"
)

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
	deadline := time.Now().Add(30 * time.Second)
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for {
		var st struct {
			Sync struct {
				HasSynced bool `json:"has_synced"`
			} `json:"sync"`
			Totals map[string]any `json:"totals"`
		}
		resp, err := http.Get(page + "api/status")
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
