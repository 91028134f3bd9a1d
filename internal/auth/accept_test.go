package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/protocol"
)

func TestVerifyAcceptsEveryAlgorithm(t *testing.T) {
	v := newVerifier(t, auth.Options{
		JWKS: []map[string]any{
			jwkOf(key(t, "rsa1")), jwkOf(key(t, "ec1")), jwkOf(key(t, "ed1")), jwkOf(key(t, "hs1")),
			jwkOf(key(t, "es384")), jwkOf(key(t, "hs512")),
		},
		Audiences: audiences,
	})
	for _, kid := range []string{"rsa1", "ec1", "ed1", "hs1", "es384", "hs512"} {
		t.Run(kid, func(t *testing.T) {
			tok := sign(t, kid, claims(func(m map[string]any) {
				m["aud"] = []string{"other", "http://localhost:8080"}
				m["parameters"] = map[string]any{"team": "a"}
			}))
			id, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if id.UserID != "user-1" || id.KeyID != kid || id.Algorithm != key(t, kid).Alg {
				t.Errorf("identity %+v", id)
			}
			if !id.ExpiresAt.Equal(now.Add(time.Hour)) || !id.IssuedAt.Equal(now.Add(-10*time.Second)) {
				t.Errorf("times %v %v", id.IssuedAt, id.ExpiresAt)
			}
			if id.Claims["parameters"].(map[string]any)["team"] != "a" {
				t.Errorf("claims %v", id.Claims)
			}
			var back map[string]any
			if err := json.Unmarshal(id.RawClaims, &back); err != nil || back["sub"] != "user-1" {
				t.Errorf("raw claims %s", id.RawClaims)
			}
		})
	}
}

func TestVerifyClockSkew(t *testing.T) {
	v := standardVerifier(t)
	cases := map[string]func(m map[string]any){
		"exp 59 s ago":         func(m map[string]any) { m["iat"] = now.Unix() - 600; m["exp"] = now.Unix() - 59 },
		"nbf 59 s ahead":       func(m map[string]any) { m["nbf"] = now.Unix() + 59 },
		"iat 59 s ahead":       func(m map[string]any) { m["iat"] = now.Unix() + 59 },
		"lifetime exactly max": func(m map[string]any) { m["iat"] = now.Unix(); m["exp"] = now.Unix() + 86400 },
		"fractional times":     func(m map[string]any) { m["iat"] = float64(now.Unix()) - 0.5; m["exp"] = float64(now.Unix()) + 10.25 },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(context.Background(), sign(t, "ed1", claims(mod))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifySubjectAsText(t *testing.T) {
	v := standardVerifier(t)
	for _, tc := range []struct {
		sub  any
		want string
	}{{"u-1", "u-1"}, {42, "42"}, {json.Number("12345678901234567890"), "12345678901234567890"}, {1.5, "1.5"}} {
		id, err := v.Verify(context.Background(), sign(t, "hs1", claims(func(m map[string]any) { m["sub"] = tc.sub })))
		if err != nil {
			t.Fatalf("sub %v: %v", tc.sub, err)
		}
		if id.UserID != tc.want {
			t.Errorf("sub %v: UserID %q, want %q", tc.sub, id.UserID, tc.want)
		}
	}
}

// A kid-less key is a wildcard: it verifies tokens with or without any kid,
// while a key with a kid only verifies tokens that carry it.
func TestKeySelection(t *testing.T) {
	kidless := jwkOf(key(t, "ec1"))
	delete(kidless, "kid")
	v := newVerifier(t, auth.Options{JWKS: []map[string]any{kidless, jwkOf(key(t, "hs1"))}, Audiences: audiences})
	ctx := context.Background()
	for name, tok := range map[string]string{
		"no kid":      raw(t, "ec1", hdr("ES256", ""), claims(nil)),
		"unknown kid": raw(t, "ec1", hdr("ES256", "whatever"), claims(nil)),
		"exact kid":   sign(t, "hs1", claims(nil)),
	} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A token whose kid names the HMAC key is final for that key: the
	// kid-less EC key is not tried.
	_, err := v.Verify(ctx, raw(t, "ec1", hdr("ES256", "hs1"), claims(nil)))
	assertCode(t, err, protocol.CodeAuthGeneric, "Unexpected token algorithm ES256")
	// A kid-less candidate that does not verify is a signature failure.
	_, err = v.Verify(ctx, raw(t, "es384", hdr("ES256", ""), claims(nil)))
	assertCode(t, err, protocol.CodeAuthSignature, "Signature verification failed with key kid-less key (ES256, client_auth.jwks.keys[0])")

	// A single kid'd key refuses kid-less tokens.
	single := newVerifier(t, auth.Options{JWKS: []map[string]any{jwkOf(key(t, "hs1"))}, Audiences: audiences})
	_, err = single.Verify(ctx, raw(t, "hs1", hdr("HS256", ""), claims(nil)))
	assertCode(t, err, protocol.CodeAuthGeneric, "Could not find an appropriate key in the keystore. The token has no kid")
}

func assertCode(t testing.TB, err error, code, msgPrefix string) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want %s", err, err, code)
	}
	if pe.Code != code || !strings.HasPrefix(pe.Description, msgPrefix) {
		t.Fatalf("got %s %q, want %s %q…", pe.Code, pe.Description, code, msgPrefix)
	}
}

func TestSupabaseSecret(t *testing.T) {
	secret := "super-secret-jwt-token-with-at-least-32-characters"
	v := newVerifier(t, auth.Options{Supabase: true, SupabaseJWTSecret: secret, Audiences: []string{"powersync-dev"}})
	if len(v.Warnings()) != 0 {
		t.Errorf("warnings %v", v.Warnings())
	}
	sk, err := auth.ParseSigningKey(mustJSON(t, map[string]any{"kty": "oct", "alg": "HS256", "k": enc(secret)}), "")
	if err != nil {
		t.Fatal(err)
	}
	mint := func(c map[string]any) string {
		tok, err := auth.SignRaw(sk, mustJSON(t, hdr("HS256", "some-supabase-kid")), mustJSON(t, c))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctx := context.Background()
	// Supabase keys require aud "authenticated" (replacing the configured
	// audiences) and allow a week-long lifetime.
	week := claims(func(m map[string]any) {
		m["aud"] = "authenticated"
		m["iat"] = now.Unix()
		m["exp"] = now.Unix() + 7*86400
	})
	if _, err := v.Verify(ctx, mint(week)); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(ctx, mint(claims(func(m map[string]any) { m["aud"] = "anon" })))
	assertCode(t, err, protocol.CodeAuthAudience, `Unexpected "aud" claim value: "anon"`)
	_, err = v.Verify(ctx, mint(claims(nil)))
	assertCode(t, err, protocol.CodeAuthAudience, `Unexpected "aud" claim value: "powersync-dev"`)
}

func TestSupabaseJWKSURI(t *testing.T) {
	for _, tc := range []struct{ host, uri, want string }{
		{"db.abcd.supabase.co", "", "https://abcd.supabase.co/auth/v1/.well-known/jwks.json"},
		{"", "postgresql://postgres:pw@db.xyz.supabase.co:5432/postgres", "https://xyz.supabase.co/auth/v1/.well-known/jwks.json"},
		{"localhost", "", ""},
		{"db.a.b.supabase.co", "", ""},
	} {
		got, ok := auth.SupabaseJWKSURI(tc.host, tc.uri)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%q %q: got %q %v, want %q", tc.host, tc.uri, got, ok, tc.want)
		}
	}
}

func TestVerifyCache(t *testing.T) {
	clock := now
	v := newVerifier(t, auth.Options{
		JWKS:      []map[string]any{jwkOf(key(t, "rsa1"))},
		Audiences: audiences,
		Now:       func() time.Time { return clock },
		CacheSize: 2,
	})
	ctx := context.Background()
	tok := sign(t, "rsa1", claims(func(m map[string]any) { m["exp"] = now.Unix() + 100 }))
	a, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	b, err := v.Verify(ctx, tok)
	if err != nil || a != b {
		t.Fatalf("second verification not served from the cache: %v", err)
	}
	for i := range 5 {
		if _, err := v.Verify(ctx, sign(t, "rsa1", claims(func(m map[string]any) { m["sub"] = i }))); err != nil {
			t.Fatal(err)
		}
	}
	if n := auth.CacheLen(v); n != 2 {
		t.Errorf("cache holds %d tokens, want the bound 2", n)
	}
	// A cached token still expires.
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(161 * time.Second)
	_, err = v.Verify(ctx, tok)
	assertCode(t, err, protocol.CodeAuthExpired, "JWT has expired")
}

// devKeys is a KeySource like the instance development key: known always,
// accepted only while enabled.
type devKeys struct {
	key     *auth.Key
	enabled atomic.Bool
}

func (d *devKeys) Keys(context.Context) ([]*auth.Key, error) { return []*auth.Key{d.key}, nil }

func (d *devKeys) Accept(kid string) error {
	if !d.enabled.Load() {
		return &protocol.Error{Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthGeneric, Status: 401,
			Description: "Development tokens are disabled for this instance"}
	}
	return nil
}

func TestExtraKeySource(t *testing.T) {
	dev, err := auth.GenerateKey("ES256", "instance-dev")
	if err != nil {
		t.Fatal(err)
	}
	src := &devKeys{key: dev.Public()}
	src.enabled.Store(true)
	v := newVerifier(t, auth.Options{Extra: src, Audiences: audiences})
	tok, err := dev.Sign(claims(nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.KeyID != "instance-dev" || !strings.Contains(id.Key, "instance") {
		t.Errorf("identity key %q %q", id.KeyID, id.Key)
	}
	// Switching the source off rejects the same (cached) token at once.
	src.enabled.Store(false)
	_, err = v.Verify(ctx, tok)
	assertCode(t, err, protocol.CodeAuthGeneric, "Development tokens are disabled for this instance")
	tok2, _ := dev.Sign(claims(func(m map[string]any) { m["sub"] = "other" }))
	_, err = v.Verify(ctx, tok2)
	assertCode(t, err, protocol.CodeAuthGeneric, "Development tokens are disabled for this instance")
}

func TestTokenFromHeader(t *testing.T) {
	for _, tc := range []struct {
		header, want string
	}{
		{"Token abc.def.ghi", "abc.def.ghi"},
		{"Bearer abc.def.ghi", "abc.def.ghi"},
		{"", ""},
		{"token abc", ""},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer  abc", ""},
		{"Bearer abc def", ""},
		{"Basic dXNlcjpwdw==", ""},
		{"Token abc\n", ""},
	} {
		got, err := auth.TokenFromHeader(tc.header)
		if tc.want == "" {
			assertCode(t, err, protocol.CodeAuthMissingToken, "Authentication required")
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q %v", tc.header, got, err)
		}
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	rsaNoKid := jwkOf(key(t, "rsa1"))
	delete(rsaNoKid, "kid")
	_, err := auth.NewVerifier(auth.Options{
		JWKS: []map[string]any{
			rsaNoKid,
			{"kty": "oct", "k": "c2VjcmV0"},
			{"kty": "EC", "crv": "P-256", "alg": "ES256", "x": "AAAA", "y": "AAAA"},
			{"kty": "OKP", "crv": "Ed448", "alg": "EdDSA", "x": "AAAA"},
			{"kty": "RSA", "kid": "x", "alg": "HS256", "n": "AQAB", "e": "AQAB"},
		},
		JWKSURIs:       []string{"ftp://example.com/jwks", "http://127.0.0.1/jwks", "::bad"},
		RejectIPRanges: []string{"local", "10.0.0.0/33"},
	})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"client_auth.jwks.keys[0]: an RSA key needs a kid",
		"client_auth.jwks.keys[1]: an oct (HMAC) key needs alg",
		"client_auth.jwks.keys[2]: x, y are not a point on P-256",
		`client_auth.jwks.keys[3]: unsupported key: crv "Ed448" is not supported`,
		"client_auth.jwks.keys[4]: alg HS256 cannot be used with a RSA key",
		`client_auth.jwks_reject_ip_ranges: "10.0.0.0/33": not a CIDR`,
		"[PSYNC_S3103] client_auth.jwks_uri[0]: Only http(s) is supported for jwks_uri",
		"[PSYNC_S3102] client_auth.jwks_uri[2]: Invalid jwks_uri",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	_, err = auth.NewVerifier(auth.Options{JWKSURIs: []string{"http://127.0.0.1/jwks"}, RejectIPRanges: []string{"local"}})
	if err == nil || !strings.Contains(err.Error(), "[PSYNC_S2203] client_auth.jwks_uri[0]: IPs in this range are not supported: 127.0.0.1") {
		t.Errorf("IP literal: %v", err)
	}
	_, err = auth.NewVerifier(auth.Options{JWKSURIs: []string{"http://[2001:4860::1]/jwks"}, BlockLocalJWKS: true})
	if err == nil || !strings.Contains(err.Error(), "PSYNC_S2202") {
		t.Errorf("IPv6 literal with block_local_jwks: %v", err)
	}
}

func TestNewVerifierWarnings(t *testing.T) {
	v := newVerifier(t, auth.Options{JWKS: []map[string]any{jwkOf(key(t, "hs1"))}})
	if w := v.Warnings(); len(w) != 1 || !strings.Contains(w[0], "client_auth.audience is empty") {
		t.Errorf("warnings %q", w)
	}
	_, err := v.Verify(context.Background(), sign(t, "hs1", claims(nil)))
	assertCode(t, err, protocol.CodeAuthAudience, `Unexpected "aud" claim value: "powersync-dev" (no audience is configured in client_auth.audience)`)
}

// Many goroutines verifying a mix of tokens through the shared cache.
func TestVerifyConcurrent(t *testing.T) {
	v := newVerifier(t, auth.Options{JWKS: []map[string]any{jwkOf(key(t, "hs1")), jwkOf(key(t, "ed1"))}, Audiences: audiences, CacheSize: 8})
	var toks []string
	for i := range 20 {
		kid := "hs1"
		if i%2 == 1 {
			kid = "ed1"
		}
		toks = append(toks, sign(t, kid, claims(func(m map[string]any) { m["sub"] = i })))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := (g*7 + i) % len(toks)
				id, err := v.Verify(context.Background(), toks[n])
				if err != nil || id.UserID != strconv.Itoa(n) {
					t.Errorf("token %d: %v %v", n, id, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A verification failure renders as the reference's HTTP error body.
func TestErrorBody(t *testing.T) {
	v := standardVerifier(t)
	_, err := v.Verify(context.Background(), sign(t, "hs1", claims(func(m map[string]any) { m["iat"] = now.Unix() - 7200; m["exp"] = now.Unix() - 3600 })))
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatal(err)
	}
	body, _ := json.Marshal(protocol.ErrorBody{Error: pe})
	want := `{"error":{"name":"AuthorizationError","code":"PSYNC_S2103","status":401,"description":"JWT has expired (exp 2027-01-15T07:00:00Z, 1h0m0s ago)"}}`
	if string(body) != want {
		t.Errorf("body\n%s\nwant\n%s", body, want)
	}
	if !strings.HasPrefix(err.Error(), "[PSYNC_S2103] JWT has expired") {
		t.Errorf("message %q: SDKs look for [PSYNC_S21", err.Error())
	}
}
