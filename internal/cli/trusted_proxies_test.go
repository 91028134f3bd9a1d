package cli_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/devtest"
)

// TestStartTrustedProxies runs `powersync start` without and with
// api.trusted_proxies and mints a development token with forwarded
// headers naming another host: only with the test's own address (127.0.0.1)
// listed do they choose the token's endpoint.
func TestStartTrustedProxies(t *testing.T) {
	clearConfigEnv(t)
	for _, tc := range []struct {
		name, setting string
		forwarded     bool
	}{
		{"no setting", "", false},
		{"another proxy", "  trusted_proxies: [10.0.0.0/8, \"2001:db8::1\"]\n", false},
		{"this peer", "  trusted_proxies: [127.0.0.1/32]\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			sqliteSource(t, filepath.Join(dir, "app.db"), `CREATE TABLE todos (id TEXT PRIMARY KEY, title TEXT)`)
			cfg := filepath.Join(dir, "service.yaml")
			writeFile(t, cfg, sqliteGlobalConfig+`  allow_temporary_tokens: true
api:
  tokens: [admin-token-0123456789abcdef]
`+tc.setting)
			inst := devtest.Start(t, cfg, devtest.Options{})
			req, _ := http.NewRequest(http.MethodPost, inst.Endpoint+"/api/admin/v1/dev-token", strings.NewReader(`{"user_id":"u1"}`))
			req.Header.Set("Authorization", "Bearer admin-token-0123456789abcdef")
			req.Header.Set("X-Forwarded-Proto", "https")
			req.Header.Set("X-Forwarded-Host", "sync.example.com")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct{ Data struct{ Endpoint string } }
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
				t.Fatalf("dev-token: %d %v", resp.StatusCode, err)
			}
			want := inst.Endpoint
			if tc.forwarded {
				want = "https://sync.example.com"
			}
			if out.Data.Endpoint != want {
				t.Errorf("endpoint %q, want %q", out.Data.Endpoint, want)
			}
		})
	}
}
