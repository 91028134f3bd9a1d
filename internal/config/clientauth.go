package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

var (
	jwkMembers = []string{"kty", "use", "key_ops", "alg", "kid", "x5u", "x5c", "x5t", "x5t#S256",
		"n", "e", "d", "p", "q", "dp", "dq", "qi", "oth", "k", "crv", "x", "y"}
	keyTypes = []string{"RSA", "oct", "EC", "OKP"}
	rsaAlgs  = []string{"RS256", "RS384", "RS512"}
	hmacAlgs = []string{"HS256", "HS384", "HS512"}
	ecAlgs   = []string{"ES256", "ES384", "ES512"}
	ecCurves = []string{"P-256", "P-384", "P-521"}
	okpAlgs  = []string{"EdDSA"}
	okpCurve = []string{"Ed25519", "Ed448"}

	// ecCurveAlg and coordinate sizes per curve.
	ecCurveAlg  = map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
	ecCoordSize = map[string]int{"P-256": 32, "P-384": 48, "P-521": 66}
	okpKeySize  = map[string]int{"Ed25519": 32, "Ed448": 57}
	hmacMinSize = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}
)

func (d *decoder) clientAuth(n *node, path string, ca *ClientAuth) {
	var secretPos *pos
	d.object(n, path, []field{
		{"jwks_uri", func(n *node, path string) {
			uris, ps := d.stringList(n, path, true)
			for i, s := range uris {
				p := path
				if n.kind == kindSeq {
					p = fmt.Sprintf("%s[%d]", path, i)
				}
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					d.c.errorf(ps[i], p, "expected an http:// or https:// URL of a JSON Web Key Set, got %q", s)
					continue
				}
				ca.JWKSURI = append(ca.JWKSURI, s)
			}
		}},
		{"jwks", func(n *node, path string) {
			d.object(n, path, []field{{"keys", func(n *node, path string) {
				if n.kind == kindNull {
					return
				}
				if n.kind != kindSeq {
					d.c.errorf(n.pos, path, "expected a list of JWKs (lines starting with `- kty: ...`), got %s", describe(n))
					return
				}
				kids := map[string]pos{}
				for i, it := range n.items {
					if k, ok := d.jwk(it, fmt.Sprintf("%s[%d]", path, i), kids); ok {
						ca.JWKS.Keys = append(ca.JWKS.Keys, k)
					}
				}
			}}})
		}},
		{"audience", func(n *node, path string) {
			ca.Audience, _ = d.stringList(n, path, true)
		}},
		{"token_max_expiration", func(n *node, path string) {
			v, ok := d.duration(n, path)
			if !ok {
				return
			}
			if v <= 0 {
				d.c.errorf(n.pos, path, "must be more than zero, got %s", describe(n))
				return
			}
			ca.TokenMaxExpiration = v
		}},
		{"supabase", d.boolInto(&ca.Supabase)},
		{"supabase_jwt_secret", func(n *node, path string) {
			if v, ok := d.str(n, path); ok {
				ca.SupabaseJWTSecret = v
				p := n.pos
				secretPos = &p
			}
		}},
		{"block_local_jwks", func(n *node, path string) {
			if v, ok := d.boolean(n, path); ok {
				ca.BlockLocalJWKS = v
				d.c.warnf(n.pos, path, "block_local_jwks is deprecated; use jwks_reject_ip_ranges: [local] instead")
			}
		}},
		{"jwks_reject_ip_ranges", func(n *node, path string) { ca.JWKSRejectIPRanges = d.ipRanges(n, path) }},
		{"allow_temporary_tokens", d.boolInto(&ca.AllowTemporaryTokens)},
	})
	if secretPos != nil && !ca.Supabase {
		d.c.warnf(*secretPos, path+".supabase_jwt_secret", "ignored unless supabase: true is set")
	}
}

// jwk checks one inline key: the fields its kty needs, base64url values of
// the right size, an alg that fits the key, unique kids.
func (d *decoder) jwk(n *node, path string, kids map[string]pos) (map[string]any, bool) {
	if n.kind != kindMap {
		d.c.errorf(n.pos, path, "expected a JWK (a mapping with kty and the key's fields), got %s", describe(n))
		return nil, false
	}
	m := map[string]any{}
	vals := map[string]*node{}
	for _, e := range n.entries {
		known := false
		for _, k := range jwkMembers {
			known = known || k == e.key
		}
		if !known {
			d.unknownKey(e, path, jwkMembers)
			continue
		}
		m[e.key] = toAny(e.val)
		vals[e.key] = e.val
	}
	ok := true
	fail := func(at pos, member, format string, args ...any) {
		ok = false
		p := path
		if member != "" {
			p = joinPath(path, member)
		}
		d.c.errorf(at, p, format, args...)
	}
	// text returns a required or optional string member.
	text := func(name string, required bool, why string) (string, bool) {
		v, has := vals[name]
		if !has || v.kind == kindNull {
			if required {
				fail(n.pos, "", "missing %q%s", name, why)
			}
			return "", false
		}
		if v.kind != kindString || v.str == "" {
			fail(v.pos, name, "expected a non-empty string, got %s", describe(v))
			return "", false
		}
		return v.str, true
	}
	oneOf := func(name, val string, options []string, what string) bool {
		for _, o := range options {
			if o == val {
				return true
			}
		}
		msg := fmt.Sprintf("expected one of %s %s, got %q", quoteList(options), what, val)
		if s := suggest(val, options); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		fail(vals[name].pos, name, "%s", msg)
		return false
	}
	// bytes decodes a required base64url member; size 0 means any length.
	bytes := func(name string, size int, what string) ([]byte, bool) {
		s, has := text(name, true, " ("+what+")")
		if !has {
			return nil, false
		}
		b, err := decodeBase64URL(s)
		if err != nil {
			fail(vals[name].pos, name, "%v", err)
			return nil, false
		}
		if size > 0 && len(b) != size {
			fail(vals[name].pos, name, "%s must be %d bytes, got %d", what, size, len(b))
			return nil, false
		}
		return b, true
	}

	kty, hasKty := text("kty", true, fmt.Sprintf(" (the key type: one of %s)", quoteList(keyTypes)))
	if !hasKty {
		return nil, false
	}
	if !oneOf("kty", kty, keyTypes, "as key type") {
		return nil, false
	}
	if use, has := text("use", false, ""); has && use != "sig" {
		fail(vals["use"].pos, "use", `must be "sig" for a key that verifies tokens, got %q`, use)
	}
	if kid, has := text("kid", false, ""); has {
		if first, dup := kids[kid]; dup {
			fail(vals["kid"].pos, "kid", "kid %q is already used by the key at line %d; each key needs its own kid", kid, first.line)
		} else {
			kids[kid] = vals["kid"].pos
		}
	}
	alg, hasAlg := text("alg", kty != "RSA", " (the algorithm tokens signed with this key use)")
	_, hasPrivate := vals["d"]

	switch kty {
	case "RSA":
		text("kid", true, " (RSA keys must have a kid)")
		if hasAlg {
			oneOf("alg", alg, rsaAlgs, "for an RSA key")
		}
		if nb, has := bytes("n", 0, "the RSA modulus"); has {
			for len(nb) > 0 && nb[0] == 0 {
				nb = nb[1:]
			}
			if bits := len(nb) * 8; bits < 2048 {
				d.c.warnf(vals["n"].pos, joinPath(path, "n"), "RSA key of about %d bits; use at least 2048", bits)
			}
		}
		bytes("e", 0, "the RSA exponent")
	case "oct":
		if hasAlg && oneOf("alg", alg, hmacAlgs, "for an HMAC (oct) key") {
			if k, has := bytes("k", 0, "the secret, base64url-encoded"); has {
				if len(k) < hmacMinSize[alg] {
					d.c.warnf(vals["k"].pos, joinPath(path, "k"), "the %s secret is only %d bytes; use at least %d random bytes", alg, len(k), hmacMinSize[alg])
				}
			}
		} else {
			bytes("k", 0, "the secret, base64url-encoded")
		}
	case "EC":
		crv, hasCrv := text("crv", true, fmt.Sprintf(" (the curve: one of %s)", quoteList(ecCurves)))
		if hasCrv && oneOf("crv", crv, ecCurves, "as curve") {
			bytes("x", ecCoordSize[crv], "the x coordinate")
			bytes("y", ecCoordSize[crv], "the y coordinate")
			if hasAlg && oneOf("alg", alg, ecAlgs, "for an EC key") && ecCurveAlg[crv] != alg {
				fail(vals["alg"].pos, "alg", "%s does not fit curve %s; use %s", alg, crv, ecCurveAlg[crv])
			}
		} else if hasAlg {
			oneOf("alg", alg, ecAlgs, "for an EC key")
		}
	case "OKP":
		crv, hasCrv := text("crv", true, fmt.Sprintf(" (the curve: one of %s)", quoteList(okpCurve)))
		if hasCrv && oneOf("crv", crv, okpCurve, "as curve") {
			bytes("x", okpKeySize[crv], "the public key")
		}
		if hasAlg {
			oneOf("alg", alg, okpAlgs, "for an OKP key")
		}
	}
	if hasPrivate && kty != "oct" {
		d.c.warnf(vals["d"].pos, joinPath(path, "d"), "this key includes its private part (d); the service needs only the public key, so remove d from the config")
	}
	return m, ok
}

// decodeBase64URL decodes base64url with or without padding, and says so
// when the text is standard base64 instead.
func decodeBase64URL(s string) ([]byte, error) {
	if strings.ContainsAny(s, "+/") {
		return nil, fmt.Errorf("not base64url: it contains '+' or '/', which belong to standard base64 (JWKs use '-' and '_')")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("not valid base64url: %v", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("must not be empty")
	}
	return b, nil
}

// decodeBase64 decodes base64 config text: standard or URL alphabet, padded
// or not, with line breaks and spaces ignored.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
