package diagnose

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// SecretHeader is the request header that carries the per-run secret on
// every /api/ request. The page reads the secret from the fragment of the
// URL the command prints (#secret=…, never sent to any server), keeps it
// in sessionStorage and sends it in this header; it is never a cookie, so
// another site's page cannot make the browser send it.
const SecretHeader = "X-Diagnose-Secret"

// securityHeaders go on every answer: the page loads only its own script
// and style sheet, talks only to this server, and cannot be framed.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
		"frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	"X-Content-Type-Options": "nosniff",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "no-referrer",
	// Other origins may not embed or open the page's answers.
	"Cross-Origin-Resource-Policy": "same-origin",
	"Cross-Origin-Opener-Policy":   "same-origin",
}

// newSecret returns 32 random bytes, base64url-encoded.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// guard is the gate in front of the page and its API. The page runs SQL on
// the user's local copy and can point the client at another service, so a
// request must come from the page itself:
//
//   - Host must be the listen address or a loopback name with its port:
//     a DNS-rebinding page (evil.example resolving to 127.0.0.1) sends its
//     own name as Host and is refused, for the page as well as the API.
//   - /api/ requests must carry the per-run secret in SecretHeader, which
//     no other page can read or guess.
//   - /api/ requests a browser marks as cross-site (Sec-Fetch-Site), or
//     whose Origin is not this page's, are refused before the secret is
//     looked at.
type guard struct {
	secret []byte
	// hostname and port the page is served at ("" port: any port, only
	// loopback names).
	hostname, port string
	next           http.Handler
}

func newGuard(secret, addr string, next http.Handler) *guard {
	g := &guard{secret: []byte(secret), next: next}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		g.hostname, g.port = strings.ToLower(h), p
	}
	return g
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	if !g.allowedHost(r.Host) {
		writeErr(w, http.StatusForbidden, errString("Host "+quote(r.Host)+" is not the address of this diagnostics page; open the address powersync diagnose printed"))
		return
	}
	if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
		if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			writeErr(w, http.StatusForbidden, errString("cross-site request refused"))
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !g.allowedOrigin(o, r.Host) {
			writeErr(w, http.StatusForbidden, errString("request from origin "+quote(o)+" refused: only the diagnostics page itself may call its API"))
			return
		}
		got := r.Header.Get(SecretHeader)
		if got == "" {
			writeErr(w, http.StatusUnauthorized, errString("missing "+SecretHeader+": open the address powersync diagnose printed (it carries the page's secret after #secret=)"))
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), g.secret) != 1 {
			writeErr(w, http.StatusUnauthorized, errString("wrong "+SecretHeader+": this page was started with another secret; open the address powersync diagnose printed"))
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// allowedHost accepts the listen address and the loopback names, with the
// listen port.
func (g *guard) allowedHost(host string) bool {
	hn, port, err := net.SplitHostPort(host)
	if err != nil {
		return false // a browser always sends the port of a non-80 page; we never serve on 80 by default
	}
	hn = strings.ToLower(strings.TrimSuffix(hn, "."))
	if g.port != "" && port != g.port {
		return false
	}
	switch hn {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	if ip := net.ParseIP(hn); ip != nil && ip.IsLoopback() {
		return true
	}
	// A page served on a specific address (--listen 192.0.2.7:8081) is
	// reached by that address; a wildcard listen address (0.0.0.0, ::) is
	// never a Host, so a name that only rebinds to it is refused.
	return g.hostname != "" && hn == g.hostname && !net.ParseIP(hn).IsUnspecified()
}

// allowedOrigin accepts only the page's own origin: http:// and the Host
// the request was sent to (already allowed).
func (g *guard) allowedOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || u.Path != "" || u.User != nil {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

type errString string

func (e errString) Error() string { return string(e) }

func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, s) + `"`
}
