package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	"github.com/powersync-go/powersync/protocol"
)

const adminToken = "admin-secret-token"

const adminSyncConfig = `bucket_definitions:
  by_user:
    parameters: SELECT request.user_id() AS user_id
    data:
      - SELECT * FROM todos WHERE owner_id = bucket.user_id
`

type adminHarness struct {
	srv   *httptest.Server
	store storage.Storage
	dev   *auth.DevKeys
	v     *auth.Verifier
}

// newAdminHarness serves the admin API over Pebble storage; configure, when
// given, changes the admin options first.
func newAdminHarness(t *testing.T, tokens []string, devOn bool, configure ...func(*server.AdminOptions)) *adminHarness {
	t.Helper()
	ctx := context.Background()
	st, err := pebble.Open(t.Context(), pebble.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	v, err := st.Deploy(ctx, adminSyncConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetState(ctx, v.ID, storage.StateActive, ""); err != nil {
		t.Fatal(err)
	}
	dev, err := auth.OpenDevKeys(ctx, auth.DevKeyOptions{Settings: st.Settings(), Default: devOn})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auth.NewVerifier(auth.Options{Extra: dev, Audiences: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { verifier.Close(context.Background()) })
	s, err := server.New(server.Options{
		Storage: st,
		Auth: server.AuthenticatorFunc(func(ctx context.Context, tok string) (server.Identity, error) {
			id, err := verifier.Verify(ctx, tok)
			if err != nil {
				return server.Identity{}, err
			}
			return server.Identity{UserID: id.UserID, Claims: id.RawClaims, ExpiresAt: id.ExpiresAt}, nil
		}),
		Rules: func(storage.Version) (server.Rules, error) { return nil, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ao := server.AdminOptions{
		Tokens:      tokens,
		DevKeys:     dev,
		Connections: []server.AdminConnection{{ID: "default", Tag: "default", Type: "sqlite", URI: "source.db"}},
	}
	for _, c := range configure {
		c(&ao)
	}
	s.EnableAdmin(ao)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &adminHarness{srv: hs, store: st, dev: dev, v: verifier}
}

func (h *adminHarness) call(t *testing.T, method, path, authz, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, rd)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAdminRefusesNonAdminTokens(t *testing.T) {
	h := newAdminHarness(t, []string{adminToken}, true)
	// A valid client JWT (a development token of this very instance).
	tok, err := h.dev.Mint(context.Background(), auth.DevTokenRequest{Subject: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.v.Verify(context.Background(), tok.Token); err != nil {
		t.Fatalf("the user JWT itself is valid for sync: %v", err)
	}
	routes := [][2]string{
		{"POST", "/api/admin/v1/diagnostics"}, {"POST", "/api/admin/v1/validate"},
		{"POST", "/api/admin/v1/execute-sql"}, {"POST", "/api/admin/v1/dev-token"}, {"POST", "/api/admin/v1/schema"},
		{"GET", "/api/admin/v1/settings"}, {"POST", "/api/admin/v1/settings"},
	}
	for _, c := range []struct {
		name, authz, code string
	}{
		{"missing", "", protocol.CodeAuthMissingToken},
		{"wrong scheme", "Basic " + adminToken, protocol.CodeAuthMissingToken},
		{"wrong token", "Bearer not-the-token", protocol.CodeAuthGeneric},
		{"prefix of the token", "Bearer " + adminToken[:5], protocol.CodeAuthGeneric},
		{"user JWT", "Bearer " + tok.Token, protocol.CodeAuthGeneric},
		{"user JWT as Token", "Token " + tok.Token, protocol.CodeAuthGeneric},
	} {
		for _, r := range routes {
			status, body := h.call(t, r[0], r[1], c.authz, `{"development_tokens":false,"user_id":"x"}`)
			if status != http.StatusUnauthorized || !strings.Contains(string(body), c.code) {
				t.Errorf("%s %s %s: %d %s, want 401 %s", c.name, r[0], r[1], status, body, c.code)
			}
		}
	}
	if !h.dev.Enabled() {
		t.Fatal("a refused request changed the setting")
	}
	// Both schemes work with the admin token.
	for _, scheme := range []string{"Bearer ", "Token "} {
		if status, body := h.call(t, "GET", "/api/admin/v1/settings", scheme+adminToken, ""); status != 200 {
			t.Errorf("%s: %d %s", scheme, status, body)
		}
	}
}

func TestAdminDisabledWithoutTokens(t *testing.T) {
	h := newAdminHarness(t, nil, true)
	status, body := h.call(t, "POST", "/api/admin/v1/diagnostics", "Bearer anything", "{}")
	if status != 401 || !strings.Contains(string(body), "Authentication disabled") {
		t.Fatalf("%d %s", status, body)
	}
}

func TestAdminDiagnostics(t *testing.T) {
	h := newAdminHarness(t, []string{adminToken}, false)
	status, body := h.call(t, "POST", "/api/admin/v1/diagnostics", "Bearer "+adminToken, `{"sync_rules_content":true}`)
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var resp struct {
		Data struct {
			Connections []struct {
				ID          string
				PostgresURI string `json:"postgres_uri"`
				Connected   bool
				Errors      []any
			}
			ActiveSyncRules *struct {
				Content     *string
				Connections []struct {
					SlotName               string `json:"slot_name"`
					InitialReplicationDone bool   `json:"initial_replication_done"`
					Tables                 []any
				}
				Errors []any
			} `json:"active_sync_rules"`
			DeployingSyncRules any `json:"deploying_sync_rules"`
			API                struct {
				ConnectedClients  *int64 `json:"connected_clients"`
				DevelopmentTokens *bool  `json:"development_tokens"`
			}
		}
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	d := resp.Data
	if len(d.Connections) != 1 || d.Connections[0].PostgresURI != "source.db" || !d.Connections[0].Connected || d.Connections[0].Errors == nil {
		t.Errorf("connections %+v", d.Connections)
	}
	if d.ActiveSyncRules == nil || d.ActiveSyncRules.Content == nil || *d.ActiveSyncRules.Content != adminSyncConfig {
		t.Fatalf("active sync rules %s", body)
	}
	if len(d.ActiveSyncRules.Connections) != 1 || d.ActiveSyncRules.Errors == nil {
		t.Errorf("active %s", body)
	}
	if d.DeployingSyncRules != nil {
		t.Errorf("deploying %v", d.DeployingSyncRules)
	}
	if d.API.ConnectedClients == nil || *d.API.ConnectedClients != 0 || d.API.DevelopmentTokens == nil || *d.API.DevelopmentTokens {
		t.Errorf("api %s", body)
	}
	// Without sync_rules_content the content is left out.
	_, body = h.call(t, "POST", "/api/admin/v1/diagnostics", "Bearer "+adminToken, "")
	if strings.Contains(string(body), `"content"`) {
		t.Errorf("content without sync_rules_content: %s", body)
	}
}

func TestAdminValidate(t *testing.T) {
	h := newAdminHarness(t, []string{adminToken}, false)
	for _, c := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"valid", `{"sync_rules":` + jsonString(adminSyncConfig) + `}`, 200, `"errors":[]`},
		{"broken", `{"sync_rules":"bucket_definitions:\n  b:\n    data:\n      - SELECT * FROM\n"}`, 200, `"level":"fatal"`},
		{"missing", `{}`, 400, "sync_rules is required"},
		{"not json", `{`, 400, "not the expected JSON object"},
	} {
		status, body := h.call(t, "POST", "/api/admin/v1/validate", "Bearer "+adminToken, c.body)
		if status != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s: %d %s, want %d with %s", c.name, status, body, c.status, c.want)
		}
	}
}

func TestAdminSchemaUnavailable(t *testing.T) {
	h := newAdminHarness(t, []string{adminToken}, false)
	status, body := h.call(t, "POST", "/api/admin/v1/schema", "Bearer "+adminToken, `{}`)
	if status != 404 || !strings.Contains(string(body), "not available") {
		t.Fatalf("%d %s", status, body)
	}
}

// TestAdminExecuteSQLNotEnabled: without debug_api execute-sql answers as
// the reference does (success false, "SQL querying is not enabled") and
// says which setting turns it on.
func TestAdminExecuteSQLNotEnabled(t *testing.T) {
	h := newAdminHarness(t, []string{adminToken}, false)
	status, body := h.call(t, "POST", "/api/admin/v1/execute-sql", "Bearer "+adminToken, `{"sql":{"query":"SELECT 1","args":[]}}`)
	if status != 200 || !strings.Contains(string(body), `"success":false`) ||
		!strings.Contains(string(body), "SQL querying is not enabled: set debug_api: true") {
		t.Fatalf("%d %s", status, body)
	}
}

func TestAdminDevTokenFlow(t *testing.T) {
	h := newAdminHarness(t, []string{adminToken}, false)
	ctx := context.Background()
	authz := "Bearer " + adminToken
	status, body := h.call(t, "POST", "/api/admin/v1/dev-token", authz, `{"user_id":"u1"}`)
	if status != http.StatusForbidden || !strings.Contains(string(body), "Development tokens are disabled for this instance") {
		t.Fatalf("mint while off: %d %s", status, body)
	}
	status, body = h.call(t, "POST", "/api/admin/v1/settings", authz, `{"development_tokens":true}`)
	if status != 200 || !strings.Contains(string(body), `"development_tokens":true`) {
		t.Fatalf("turn on: %d %s", status, body)
	}
	if status, body = h.call(t, "POST", "/api/admin/v1/settings", authz, `{}`); status != 400 {
		t.Errorf("settings without a value: %d %s", status, body)
	}
	if status, body = h.call(t, "POST", "/api/admin/v1/dev-token", authz, `{"user_id":""}`); status != 400 {
		t.Errorf("empty user id: %d %s", status, body)
	}
	if status, body = h.call(t, "POST", "/api/admin/v1/dev-token", authz, `{"user_id":"u","expires_in_seconds":90000}`); status != 400 {
		t.Errorf("too long: %d %s", status, body)
	}
	// Forwarded headers from a peer that api.trusted_proxies does not list
	// (here: none is) are ignored: the endpoint is the address called.
	req, _ := http.NewRequest("POST", h.srv.URL+"/api/admin/v1/dev-token", strings.NewReader(`{"user_id":"user-42"}`))
	req.Header.Set("Authorization", authz)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "sync.example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Data struct {
			Token     string
			Endpoint  string
			ExpiresAt time.Time `json:"expires_at"`
			IssuedAt  time.Time `json:"issued_at"`
		}
	}
	json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 || out.Data.Endpoint != h.srv.URL {
		t.Fatalf("mint: %d %+v, want endpoint %s", resp.StatusCode, out, h.srv.URL)
	}
	if out.Data.ExpiresAt.Sub(out.Data.IssuedAt) != 12*time.Hour {
		t.Errorf("lifetime %s", out.Data.ExpiresAt.Sub(out.Data.IssuedAt))
	}
	id, err := h.v.Verify(ctx, out.Data.Token)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Sub string
		Aud []string
	}
	json.Unmarshal(id.RawClaims, &claims)
	if claims.Sub != "user-42" || len(claims.Aud) == 0 || claims.Aud[0] != h.srv.URL {
		t.Errorf("claims %s", id.RawClaims)
	}
	// Off: the token is rejected, with the reason.
	h.call(t, "POST", "/api/admin/v1/settings", authz, `{"development_tokens":false}`)
	_, err = h.v.Verify(ctx, out.Data.Token)
	if err == nil || !strings.Contains(err.Error(), "Development tokens are disabled for this instance") {
		t.Fatalf("after turning off: %v", err)
	}
}

func TestDashboardServed(t *testing.T) {
	h := newAdminHarness(t, []string{adminToken}, false)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(h.srv.URL + "/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/dashboard/" {
		t.Errorf("/dashboard: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for path, want := range map[string]string{
		"/dashboard/":          "Development tokens",
		"/dashboard/app.js":    "/api/admin/v1/",
		"/dashboard/style.css": ".topbar",
	} {
		resp, err := http.Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, want %q in the body", path, resp.StatusCode, want)
		}
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: no CSP", path)
		}
		// No external fetches: nothing refers to another origin.
		if strings.Contains(string(b), "src=\"http") || strings.Contains(string(b), "href=\"http") || strings.Contains(string(b), "@import") {
			t.Errorf("%s refers to an external resource", path)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
