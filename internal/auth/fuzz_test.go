package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/protocol"
)

// FuzzVerify feeds arbitrary tokens to the parser and verifier: whatever
// comes in, the answer is an identity or a *protocol.Error with a 401, never
// a panic; an accepted token always has a subject.
func FuzzVerify(f *testing.F) {
	v := standardVerifier(f)
	for _, kid := range []string{"rsa1", "ec1", "ed1", "hs1"} {
		tok := sign(f, kid, claims(nil))
		f.Add(tok)
		f.Add(tok[:len(tok)/2])
		f.Add(strings.Replace(tok, ".", "..", 1))
	}
	f.Add(sign(f, "hs1", claims(func(m map[string]any) { m["parameters"] = []any{1} })))
	f.Add(raw(f, "hs1", hdr("HS256", "hs1"), []byte(`{"sub":1e400,"iat":-1e400,"exp":"x","aud":[null]}`)))
	f.Add(enc(`{"alg":"none"}`) + "." + enc(`{}`) + ".")
	f.Add(enc(`{"alg":"HS256","kid":{"a":1}}`) + ".e30.AAAA")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Status != 401 || !strings.HasPrefix(pe.Code, "PSYNC_S2") {
				t.Fatalf("unexpected error %T %v", err, err)
			}
			return
		}
		if id.UserID == "" || id.Claims == nil {
			t.Fatalf("accepted token without subject: %+v", id)
		}
	})
}

// FuzzParseJWK checks that no JWK input panics the key parser.
func FuzzParseJWK(f *testing.F) {
	for _, kid := range []string{"rsa1", "ec1", "ed1", "hs1"} {
		f.Add(string(mustJSON(f, jwkOf(key(f, kid)))))
	}
	f.Add(`{"kty":"EC","crv":"P-521","alg":"ES512","x":"","y":""}`)
	f.Fuzz(func(t *testing.T, s string) {
		k, err := auth.ParseJWKJSON([]byte(s))
		if err == nil && k.Kty == "" {
			t.Fatalf("key without kty from %q", s)
		}
	})
}
