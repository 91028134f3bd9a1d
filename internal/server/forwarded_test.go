package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/server"
)

// TestDevTokenForwardedHeaders mints development tokens with forwarded
// headers a caller chose. Only a peer listed in api.trusted_proxies may set
// the minted token's endpoint and audience; from any other peer the
// headers are ignored, and hostile values are ignored even from a trusted
// one.
func TestDevTokenForwardedHeaders(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	other := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}
	const self = "" // the address the test called: http://127.0.0.1:port
	cases := []struct {
		name    string
		trusted []netip.Prefix
		headers [][2]string
		want    string
	}{
		{"untrusted: X-Forwarded-*", nil, [][2]string{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "evil.example"}}, self},
		{"untrusted: Forwarded", nil, [][2]string{{"Forwarded", "proto=https;host=evil.example"}}, self},
		{"peer not in the trusted ranges", other, [][2]string{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "evil.example"}}, self},

		{"trusted: X-Forwarded-*", loopback, [][2]string{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "sync.example.com"}}, "https://sync.example.com"},
		{"trusted: host with port", loopback, [][2]string{{"X-Forwarded-Host", "sync.example.com:8443"}}, "http://sync.example.com:8443"},
		{"trusted: Forwarded wins", loopback, [][2]string{{"Forwarded", `for=192.0.2.60;proto=https;host="sync.example.com"`},
			{"X-Forwarded-Host", "other.example"}}, "https://sync.example.com"},
		{"trusted: the proxy's element is the last", loopback, [][2]string{{"X-Forwarded-Host", "evil.example, sync.example.com"}},
			"http://sync.example.com"},
		{"trusted: repeated header, last one", loopback, [][2]string{{"X-Forwarded-Host", "evil.example"}, {"X-Forwarded-Host", "sync.example.com"}},
			"http://sync.example.com"},
		{"trusted: IPv6 host", loopback, [][2]string{{"X-Forwarded-Host", "[2001:db8::1]:8443"}}, "http://[2001:db8::1]:8443"},

		{"trusted: path smuggled in host", loopback, [][2]string{{"X-Forwarded-Host", "evil.example/x?y"}}, self},
		{"trusted: user info in host", loopback, [][2]string{{"X-Forwarded-Host", "user@evil.example"}}, self},
		{"trusted: space in host", loopback, [][2]string{{"X-Forwarded-Host", "evil.example x"}}, self},
		{"trusted: empty port", loopback, [][2]string{{"X-Forwarded-Host", "evil.example:"}}, self},
		{"trusted: bad port", loopback, [][2]string{{"X-Forwarded-Host", "evil.example:80x"}}, self},
		{"trusted: IPv6 without brackets", loopback, [][2]string{{"X-Forwarded-Host", "2001:db8::1"}}, self},
		{"trusted: bare IPv6 colons", loopback, [][2]string{{"X-Forwarded-Host", "a:b:c"}}, self},
		{"trusted: long host", loopback, [][2]string{{"X-Forwarded-Host", strings.Repeat("a", 300) + ".example"}}, self},
		{"trusted: unknown proto", loopback, [][2]string{{"X-Forwarded-Proto", "javascript"}, {"X-Forwarded-Host", "sync.example.com"}},
			"http://sync.example.com"},
		{"trusted: Forwarded without host", loopback, [][2]string{{"Forwarded", "for=192.0.2.60;proto=https"}}, "https://" + self},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newAdminHarness(t, []string{adminToken}, true, func(o *server.AdminOptions) { o.TrustedProxies = tc.trusted })
			want := tc.want
			switch want {
			case self:
				want = h.srv.URL
			case "https://" + self:
				want = "https://" + strings.TrimPrefix(h.srv.URL, "http://")
			}
			req, _ := http.NewRequest("POST", h.srv.URL+"/api/admin/v1/dev-token", strings.NewReader(`{"user_id":"u1"}`))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			for _, kv := range tc.headers {
				req.Header.Add(kv[0], kv[1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Data struct{ Token, Endpoint string }
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
				t.Fatalf("mint: %d %v", resp.StatusCode, err)
			}
			if out.Data.Endpoint != want {
				t.Errorf("endpoint %q, want %q", out.Data.Endpoint, want)
			}
			id, err := h.v.Verify(context.Background(), out.Data.Token)
			if err != nil {
				t.Fatal(err)
			}
			var claims struct{ Aud []string }
			_ = json.Unmarshal(id.RawClaims, &claims)
			if len(claims.Aud) == 0 || claims.Aud[0] != want {
				t.Errorf("aud %v, want %q", claims.Aud, want)
			}
		})
	}
}
