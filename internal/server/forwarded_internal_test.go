package server

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequestURL sends arbitrary forwarded headers from a trusted and an
// untrusted peer. From an untrusted peer the URL is always the request's
// own; from a trusted one it is always an http(s) URL with a bare host
// (no user info, path, query or fragment) that parses back the same.
func FuzzRequestURL(f *testing.F) {
	for _, s := range [][3]string{
		{"https", "sync.example.com", ""},
		{"http", "sync.example.com:8443", ""},
		{"", "", "proto=https;host=sync.example.com"},
		{"javascript", "evil.example/x?y#z", `host="a@b";proto=ftp`},
		{"https,http", "a, b, [2001:db8::1]:1", "for=x, host=y:99999"},
		{"", "[::1", "host=[::1]:80"},
		{"", "a:b:c", ";;;==,"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	f.Fuzz(func(t *testing.T, proto, host, fwd string) {
		r := httptest.NewRequest("POST", "http://127.0.0.1:8080/api/admin/v1/dev-token", nil)
		r.Header["X-Forwarded-Proto"] = []string{proto}
		r.Header["X-Forwarded-Host"] = []string{host}
		r.Header["Forwarded"] = []string{fwd}

		r.RemoteAddr = "198.51.100.7:4000" // not trusted
		if got := requestURL(r, trusted).String(); got != "http://127.0.0.1:8080" {
			t.Fatalf("untrusted peer: %q", got)
		}

		r.RemoteAddr = "192.0.2.9:4000"
		u := requestURL(r, trusted)
		s := u.String()
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("scheme %q", u.Scheme)
		}
		back, err := url.Parse(s)
		if err != nil {
			t.Fatalf("%q does not parse: %v", s, err)
		}
		if back.Host != u.Host || back.User != nil || back.Path != "" || back.RawQuery != "" || back.Fragment != "" ||
			strings.ContainsAny(u.Host, "/?#@ \t\r\n") {
			t.Fatalf("trusted peer: %q (host %q) is more than scheme://host", s, u.Host)
		}
	})
}
