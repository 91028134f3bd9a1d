package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/protocol"
)

// jwksServer serves a JWKS document that tests change, and counts requests.
type jwksServer struct {
	*httptest.Server
	fetches atomic.Int64
	fetched chan struct{} // one value per fetch, dropped when nobody reads
	mu      sync.Mutex
	body    string
	status  int
}

func newJWKSServer(t *testing.T, keys ...*auth.SigningKey) *jwksServer {
	s := &jwksServer{status: http.StatusOK, fetched: make(chan struct{}, 16)}
	s.setKeys(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		defer func() {
			select {
			case s.fetched <- struct{}{}:
			default:
			}
		}()
		if r.Header.Get("Accept") != "application/json" {
			t.Errorf("Accept header %q", r.Header.Get("Accept"))
		}
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t *testing.T, keys ...*auth.SigningKey) {
	list := []map[string]any{}
	for _, k := range keys {
		list = append(list, jwkOf(k))
	}
	s.set(string(mustJSON(t, map[string]any{"keys": list})), http.StatusOK)
}

func (s *jwksServer) set(body string, status int) {
	s.mu.Lock()
	s.body, s.status = body, status
	s.mu.Unlock()
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func remoteVerifier(t *testing.T, c *clock, o auth.Options) *auth.Verifier {
	o.Now = c.Now
	if o.Audiences == nil {
		o.Audiences = audiences
	}
	o.CacheSize = -1 // every request goes to the key store
	return newVerifier(t, o)
}

func TestJWKSRotation(t *testing.T) {
	a, b := key(t, "rsa1"), key(t, "ec1")
	srv := newJWKSServer(t, a)
	c := &clock{t: now}
	v := remoteVerifier(t, c, auth.Options{JWKSURIs: []string{srv.URL}})
	ctx := context.Background()
	id, err := v.Verify(ctx, sign(t, "rsa1", claims(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if id.Key != `kid "rsa1" (RS256, `+srv.URL+`)` {
		t.Errorf("key %q", id.Key)
	}
	// The issuer publishes a new key and signs with it at once: the first
	// request with the new kid refreshes and succeeds.
	srv.setKeys(t, a, b)
	c.Advance(11 * time.Second)
	if _, err := v.Verify(ctx, sign(t, "ec1", claims(nil))); err != nil {
		t.Fatalf("token with the new kid: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
	// The old key is dropped by the issuer: after the next refresh its
	// tokens fail (with the rate limit respected).
	srv.setKeys(t, b)
	c.Advance(11 * time.Second)
	_, err = v.Verify(ctx, raw(t, "rsa1", hdr("RS256", "rsa-gone"), claims(nil)))
	assertCode(t, err, protocol.CodeAuthGeneric, "Could not find an appropriate key")
	_, err = v.Verify(ctx, sign(t, "rsa1", claims(nil)))
	assertCode(t, err, protocol.CodeAuthGeneric, `Could not find an appropriate key in the keystore. No key has the token's kid "rsa1"`)
	if n := srv.fetches.Load(); n != 3 {
		t.Errorf("%d fetches, want 3 (the second unknown kid is within the rate limit)", n)
	}
}

func TestJWKSMalformedKeepsOldKeys(t *testing.T) {
	srv := newJWKSServer(t, key(t, "rsa1"))
	c := &clock{t: now}
	v := remoteVerifier(t, c, auth.Options{JWKSURIs: []string{srv.URL}})
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, "rsa1", claims(nil))); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`not json`,
		`{"keys": "nope"}`,
		`{"other": []}`,
		`{"keys": [{"kty": "RSA", "kid": "broken", "n": "!!!", "e": "AQAB"}]}`,
		`{"keys": [42]}`,
	} {
		srv.set(body, http.StatusOK)
		c.Advance(11 * time.Second)
		// An unknown kid triggers the refresh, which fails: the answer is
		// the JWKS error, and the old key keeps working.
		_, err := v.Verify(ctx, raw(t, "rsa1", hdr("RS256", "new-kid"), claims(nil)))
		assertCode(t, err, auth.CodeJWKSFailed, "Invalid JWKS response from "+srv.URL)
		if _, err := v.Verify(ctx, sign(t, "rsa1", claims(func(m map[string]any) { m["sub"] = body }))); err != nil {
			t.Fatalf("after %q: old key lost: %v", body, err)
		}
	}
}

func TestJWKSOutageKeepsCachedKeys(t *testing.T) {
	srv := newJWKSServer(t, key(t, "ed1"))
	c := &clock{t: now}
	v := remoteVerifier(t, c, auth.Options{JWKSURIs: []string{srv.URL}})
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, "ed1", claims(nil))); err != nil {
		t.Fatal(err)
	}
	srv.set(`{"error":"down"}`, http.StatusServiceUnavailable)
	c.Advance(11 * time.Second)
	_, err := v.Verify(ctx, raw(t, "ed1", hdr("EdDSA", "unknown"), claims(nil)))
	assertCode(t, err, auth.CodeJWKSFailed, "JWKS request failed: "+srv.URL+": HTTP 503")
	srv.Close() // the server is gone entirely
	c.Advance(11 * time.Second)
	_, err = v.Verify(ctx, raw(t, "ed1", hdr("EdDSA", "unknown2"), claims(nil)))
	assertCode(t, err, auth.CodeJWKSFailed, "JWKS request failed: "+srv.URL)
	if _, err := v.Verify(ctx, sign(t, "ed1", claims(func(m map[string]any) { m["sub"] = "2" }))); err != nil {
		t.Fatalf("cached key lost in the outage: %v", err)
	}
}

func TestJWKSUnknownKidFloodIsRateLimited(t *testing.T) {
	srv := newJWKSServer(t, key(t, "ec1"))
	c := &clock{t: now}
	v := remoteVerifier(t, c, auth.Options{JWKSURIs: []string{srv.URL}, JWKSMinRefreshInterval: 10 * time.Second})
	ctx := context.Background()
	flood := func(round int) {
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				_, err := v.Verify(ctx, raw(t, "ec1", hdr("ES256", fmt.Sprintf("unknown-%d-%d", round, i)), claims(nil)))
				var pe *protocol.Error
				if err == nil || !asProtocol(err, &pe) || pe.Code != protocol.CodeAuthGeneric {
					t.Errorf("unknown kid: %v", err)
				}
			})
		}
		wg.Wait()
	}
	flood(0)
	// The first request fetches; everything else joins it or is rate-limited.
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("round 0: %d fetches, want 1", n)
	}
	c.Advance(5 * time.Second)
	flood(1)
	if n := srv.fetches.Load(); n != 1 {
		t.Errorf("round 1 (within the interval): %d fetches, want 1", n)
	}
	c.Advance(6 * time.Second)
	flood(2)
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("round 2 (after the interval): %d fetches, want 2", n)
	}
}

func asProtocol(err error, pe **protocol.Error) bool {
	e, ok := err.(*protocol.Error)
	*pe = e
	return ok
}

func TestJWKSKeyFiltering(t *testing.T) {
	kidless := jwkOf(key(t, "rsa1"))
	delete(kidless, "kid")
	enc := jwkOf(key(t, "ec1"))
	enc["use"] = "enc"
	ops := jwkOf(key(t, "ed1"))
	ops["key_ops"] = []string{"encrypt"}
	body := mustJSON(t, map[string]any{"keys": []any{
		kidless, enc, ops,
		jwkOf(key(t, "hs1")), // symmetric keys are never taken from a URL
		map[string]any{"kty": "OKP", "crv": "Ed448", "x": "AAAA", "kid": "ed448"},
		map[string]any{"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB", "alg": "RS256"},
	}})
	srv := newJWKSServer(t)
	srv.set(string(body), http.StatusOK)
	c := &clock{t: now}
	v := remoteVerifier(t, c, auth.Options{JWKSURIs: []string{srv.URL}})
	ctx := context.Background()
	if _, err := v.Verify(ctx, raw(t, "rsa1", hdr("RS256", "any-kid"), claims(nil))); err != nil {
		t.Errorf("kid-less RSA key from the JWKS: %v", err)
	}
	for _, kid := range []string{"ec1", "ed1", "hs1"} {
		c.Advance(11 * time.Second)
		_, err := v.Verify(ctx, sign(t, kid, claims(nil)))
		if err == nil {
			t.Errorf("%s: a key not meant for signatures was used", kid)
		}
	}
}

func TestJWKSRejectedAddressAtDialTime(t *testing.T) {
	srv := newJWKSServer(t, key(t, "rsa1"))
	uri := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	c := &clock{t: now}
	v := remoteVerifier(t, c, auth.Options{JWKSURIs: []string{uri}, RejectIPRanges: []string{"local"}})
	_, err := v.Verify(context.Background(), sign(t, "rsa1", claims(nil)))
	assertCode(t, err, auth.CodeJWKSFailed, "JWKS request failed: "+uri+": [PSYNC_S22")
	if n := srv.fetches.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
	// 127.0.0.0/8 as an explicit range does the same.
	v = remoteVerifier(t, c, auth.Options{JWKSURIs: []string{uri}, RejectIPRanges: []string{"127.0.0.0/8", "::1"}})
	_, err = v.Verify(context.Background(), sign(t, "rsa1", claims(nil)))
	assertCode(t, err, auth.CodeJWKSFailed, "JWKS request failed: "+uri+": [PSYNC_S2203] IPs in this range are not supported")
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	srv := newJWKSServer(t, key(t, "rsa1"))
	v, err := auth.NewVerifier(auth.Options{JWKSURIs: []string{srv.URL}, Audiences: audiences, JWKSRefreshInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	v.Start(ctx)
	timeout := time.After(10 * time.Second)
	for range 3 {
		select {
		case <-srv.fetched:
		case <-timeout:
			t.Fatalf("%d background fetches", srv.fetches.Load())
		}
	}
	// Close returns once the refresh loop has ended (nil, not the
	// context's error), so no background fetch can follow.
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if err := v.Close(cctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	after := srv.fetches.Load()
	// The keys fetched in the background serve verification, without a
	// fetch.
	tok, _ := key(t, "rsa1").Sign(claims(func(m map[string]any) {
		m["iat"] = time.Now().Unix()
		m["exp"] = time.Now().Unix() + 60
	}))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != after {
		t.Errorf("fetches after Close: %d → %d", after, n)
	}
}

// Several URIs: an unknown kid refreshes each of them once, and keys from
// a Supabase project JWKS require aud "authenticated".
func TestJWKSSeveralURIsAndSupabase(t *testing.T) {
	first := newJWKSServer(t, key(t, "rsa1"))
	second := newJWKSServer(t)
	supa := newJWKSServer(t, key(t, "ed1"))
	c := &clock{t: now}
	v := remoteVerifier(t, c, auth.Options{
		JWKSURIs: []string{first.URL, second.URL},
		Supabase: true, SupabaseJWKSURI: supa.URL,
	})
	ctx := context.Background()
	if _, err := v.Verify(ctx, sign(t, "rsa1", claims(nil))); err != nil {
		t.Fatal(err)
	}
	second.setKeys(t, key(t, "ec1"))
	c.Advance(11 * time.Second)
	if _, err := v.Verify(ctx, sign(t, "ec1", claims(nil))); err != nil {
		t.Fatalf("key added to the second URI: %v", err)
	}
	for name, srv := range map[string]*jwksServer{"first": first, "second": second, "supabase": supa} {
		if n := srv.fetches.Load(); n != 2 {
			t.Errorf("%s: %d fetches, want 2", name, n)
		}
	}
	_, err := v.Verify(ctx, sign(t, "ed1", claims(nil)))
	assertCode(t, err, protocol.CodeAuthAudience, `Unexpected "aud" claim value: "powersync-dev"`)
	id, err := v.Verify(ctx, sign(t, "ed1", claims(func(m map[string]any) {
		m["aud"] = "authenticated"
		m["iat"] = now.Unix()
		m["exp"] = now.Unix() + 3*86400
	})))
	if err != nil {
		t.Fatal(err)
	}
	if id.Key != `kid "ed1" (EdDSA, supabase `+supa.URL+`)` {
		t.Errorf("key %q", id.Key)
	}
}
