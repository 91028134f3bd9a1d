package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/cli"
)

// TestDiagnoseCommand runs `powersync diagnose` against an in-process
// `powersync dev` and reads its status API until the user's data is synced.
func TestDiagnoseCommand(t *testing.T) {
	clearConfigEnv(t)
	dir, endpoint := inProcessDev(t)
	tok := devTokenFor(t, dir, "test-user")

	code, _, errOut := runCLI(t, "diagnose", "--token", tok, "--db", filepath.Join(t.TempDir(), "x.db"))
	if code == 0 || !strings.Contains(errOut, "--endpoint") {
		t.Errorf("token without a URL aud and no --endpoint: %d %s", code, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"diagnose", "--endpoint", endpoint, "--token", tok,
			"--db", filepath.Join(t.TempDir(), "d.db"), "--listen", "127.0.0.1:0"}, strings.NewReader(""), out, errb)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("diagnose exited with %d: %s", code, errb)
		}
	}()
	var page string
	deadline := time.Now().Add(30 * time.Second)
	for page == "" {
		for _, l := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(l, "Diagnostics page:"); ok {
				page = strings.TrimSpace(rest)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page URL printed: %s %s", out, errb)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
