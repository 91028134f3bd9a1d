package server

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// requestURL is the scheme and host a client used to reach this process:
// the connection's (https when it is TLS, the Host header), or what a
// reverse proxy says in Forwarded (RFC 7239) or X-Forwarded-Proto and
// X-Forwarded-Host — but only when the peer that sent the request is in
// trusted (api.trusted_proxies). Anyone can send those headers, so without
// that setting they are ignored: otherwise the caller, not the operator,
// would choose the endpoint and audience of development tokens.
//
// When a header holds a list, the last element is used: it is the one the
// trusted proxy (the nearest one) added, while earlier elements may have
// come from the client.
func requestURL(r *http.Request, trusted []netip.Prefix) *url.URL {
	u := &url.URL{Scheme: "http", Host: r.Host}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	if !trustedPeer(r.RemoteAddr, trusted) {
		return u
	}
	proto, host := forwardedLast(r.Header.Values("Forwarded"))
	if proto == "" && host == "" {
		proto = lastItem(r.Header.Values("X-Forwarded-Proto"))
		host = lastItem(r.Header.Values("X-Forwarded-Host"))
	}
	switch strings.ToLower(proto) {
	case "http", "https":
		u.Scheme = strings.ToLower(proto)
	}
	if validHost(host) {
		u.Host = host
	}
	return u
}

// trustedPeer reports whether the connection's remote address is in one
// of the trusted ranges.
func trustedPeer(remoteAddr string, trusted []netip.Prefix) bool {
	if len(trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// lastItem is the last element of a comma-separated header that may be
// sent several times.
func lastItem(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	v := vs[len(vs)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

// forwardedLast reads proto= and host= of the last element of the
// Forwarded headers (`Forwarded: for=192.0.2.1;proto=https;host=sync.example.com`).
func forwardedLast(vs []string) (proto, host string) {
	last := lastItem(vs)
	for _, pair := range strings.Split(last, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "proto":
			proto = val
		case "host":
			host = val
		}
	}
	return proto, host
}

// validHost accepts a host name, IPv4 address or bracketed IPv6 address,
// with an optional numeric port, and nothing else: no user info, path,
// query, spaces or control characters, so a forwarded value cannot smuggle
// more into the URL it ends up in.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for _, c := range h {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._:[]", c)
		if !ok {
			return false
		}
	}
	name, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return false
		}
		name, port = h[1:end], h[end+1:]
		if ip := net.ParseIP(name); ip == nil || !strings.Contains(name, ":") {
			return false
		}
		if port == "" {
			return true
		}
		if !strings.HasPrefix(port, ":") {
			return false
		}
		port = port[1:]
	} else if n, p, ok := strings.Cut(h, ":"); ok {
		name, port = n, p
		if port == "" {
			return false
		}
	}
	if !strings.HasPrefix(h, "[") && (name == "" || strings.ContainsAny(name, ":[]")) {
		return false
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(port) <= 5
}
