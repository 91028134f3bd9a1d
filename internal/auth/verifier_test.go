package auth_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/protocol"
)

// now is the fixed clock of these tests.
var now = time.Unix(1_800_000_000, 0)

func fixedNow() time.Time { return now }

var audiences = []string{"powersync-dev", "http://localhost:8080"}

// testKeys are generated once per test binary (RSA generation is slow).
var testKeys = sync.OnceValue(func() map[string]*auth.SigningKey {
	out := map[string]*auth.SigningKey{}
	for kid, alg := range map[string]string{"rsa1": "RS256", "rsa-other": "RS256", "ec1": "ES256", "ed1": "EdDSA", "hs1": "HS256", "es384": "ES384", "hs512": "HS512"} {
		k, err := auth.GenerateKey(alg, kid)
		if err != nil {
			panic(err)
		}
		out[kid] = k
	}
	return out
})

func key(t testing.TB, kid string) *auth.SigningKey {
	t.Helper()
	k := testKeys()[kid]
	if k == nil {
		t.Fatalf("no test key %q", kid)
	}
	return k
}

// jwkOf is the public JWK of a signing key as it would be written in config.
func jwkOf(s *auth.SigningKey) map[string]any { return s.Public().JWKMap() }

func newVerifier(t testing.TB, o auth.Options) *auth.Verifier {
	t.Helper()
	if o.Now == nil {
		o.Now = fixedNow
	}
	v, err := auth.NewVerifier(o)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(func() { v.Close(context.Background()) })
	return v
}

// standardVerifier knows rsa1, ec1, ed1 and hs1, each with its kid.
func standardVerifier(t testing.TB) *auth.Verifier {
	return newVerifier(t, auth.Options{
		JWKS:      []map[string]any{jwkOf(key(t, "rsa1")), jwkOf(key(t, "ec1")), jwkOf(key(t, "ed1")), jwkOf(key(t, "hs1"))},
		Audiences: audiences,
	})
}

func claims(mod func(m map[string]any)) map[string]any {
	m := map[string]any{
		"sub": "user-1",
		"iat": now.Unix() - 10,
		"exp": now.Unix() + 3600,
		"aud": "powersync-dev",
	}
	if mod != nil {
		mod(m)
	}
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// raw signs header and payload (any JSON values) with the key named kid.
func raw(t testing.TB, signer string, header, payload any) string {
	t.Helper()
	hb, ok := header.([]byte)
	if !ok {
		hb = mustJSON(t, header)
	}
	pb, ok := payload.([]byte)
	if !ok {
		pb = mustJSON(t, payload)
	}
	tok, err := auth.SignRaw(key(t, signer), hb, pb)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func hdr(alg, kid string) map[string]any {
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	return h
}

func sign(t testing.TB, signer string, c map[string]any) string {
	t.Helper()
	k := key(t, signer)
	return raw(t, signer, hdr(k.Alg, k.KID), c)
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestVerifyRejectsHostileTokens(t *testing.T) {
	v := standardVerifier(t)

	rsaPub, err := x509.MarshalPKIXPublicKey(mustPublicCrypto(t, "rsa1"))
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPub})
	confused, err := auth.ParseSigningKey(mustJSON(t, map[string]any{"kty": "oct", "alg": "HS256", "k": base64.RawURLEncoding.EncodeToString(rsaPEM)}), "")
	if err != nil {
		t.Fatal(err)
	}
	signConfused := func(kid string) string {
		tok, err := auth.SignRaw(confused, mustJSON(t, hdr("HS256", kid)), mustJSON(t, claims(nil)))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	good := sign(t, "rsa1", claims(nil))
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + enc(string(mustJSON(t, claims(func(m map[string]any) { m["sub"] = "admin" })))) + "." + parts[2]
	goodEC := sign(t, "ec1", claims(nil))
	ecParts := strings.Split(goodEC, ".")

	rsaKey := `kid "rsa1" (RS256, client_auth.jwks.keys[0])`
	ecKey := `kid "ec1" (ES256, client_auth.jwks.keys[1])`
	edKey := `kid "ed1" (EdDSA, client_auth.jwks.keys[2])`
	hsKey := `kid "hs1" (HS256, client_auth.jwks.keys[3])`
	const malformed = "Token is not a well-formed JWT. Check the token format."
	const notFoundNoKid = "Could not find an appropriate key in the keystore. The token has no kid, and no kid-less key accepts %s (keys with a kid only verify tokens that carry it)."
	const notFoundKid = "Could not find an appropriate key in the keystore. No key has the token's kid %q and no kid-less key accepts %s."

	cases := []struct {
		name  string
		token string
		code  string
		msg   string
		claim string
		key   string
	}{
		{"alg none", enc(`{"alg":"none","typ":"JWT"}`) + "." + enc(string(mustJSON(t, claims(nil)))) + ".",
			protocol.CodeAuthGeneric, `Unsigned tokens (alg "none") are not accepted`, "", ""},
		{"alg None with a signature", enc(`{"alg":"None","kid":"hs1"}`) + "." + enc(string(mustJSON(t, claims(nil)))) + "." + parts[2],
			protocol.CodeAuthGeneric, `Unsigned tokens (alg "None") are not accepted`, "", ""},
		{"HS256 with the RSA public key as secret, kid of the RSA key", signConfused("rsa1"),
			protocol.CodeAuthGeneric, "Unexpected token algorithm HS256: key " + rsaKey + " only accepts RS256", "", rsaKey},
		{"HS256 with the RSA public key as secret, no kid", signConfused(""),
			protocol.CodeAuthGeneric, fmt.Sprintf(notFoundNoKid, "HS256"), "", ""},
		{"wrong kid", raw(t, "rsa1", hdr("RS256", "rsa9"), claims(nil)),
			protocol.CodeAuthGeneric, fmt.Sprintf(notFoundKid, "rsa9", "RS256"), "", ""},
		{"kid-less token against kid'd keys", raw(t, "rsa1", hdr("RS256", ""), claims(nil)),
			protocol.CodeAuthGeneric, fmt.Sprintf(notFoundNoKid, "RS256"), "", ""},
		{"signed by another key with the same kid", raw(t, "rsa-other", hdr("RS256", "rsa1"), claims(nil)),
			protocol.CodeAuthSignature, "Signature verification failed with key " + rsaKey, "", rsaKey},
		{"HS256 with a wrong secret", raw(t, "hs512", hdr("HS256", "hs1"), claims(nil)),
			protocol.CodeAuthSignature, "Signature verification failed with key " + hsKey, "", hsKey},
		{"expired", sign(t, "rsa1", claims(func(m map[string]any) { m["iat"] = now.Unix() - 7200; m["exp"] = now.Unix() - 3600 })),
			protocol.CodeAuthExpired, "JWT has expired (exp 2027-01-15T07:00:00Z, 1h0m0s ago)", "exp", ""},
		{"expired just beyond the skew", sign(t, "ec1", claims(func(m map[string]any) { m["exp"] = now.Unix() - 60 })),
			protocol.CodeAuthExpired, "JWT has expired (exp 2027-01-15T07:59:00Z, 1m0s ago)", "exp", ""},
		{"iat in the future", sign(t, "rsa1", claims(func(m map[string]any) { m["iat"] = now.Unix() + 120; m["exp"] = now.Unix() + 3600 })),
			protocol.CodeAuthGeneric, `JWT "iat" is 2m0s in the future (allowed clock skew: 1m0s)`, "iat", ""},
		{"lifetime over the maximum", sign(t, "rsa1", claims(func(m map[string]any) { m["iat"] = now.Unix(); m["exp"] = now.Unix() + 86401 })),
			protocol.CodeAuthLifetime, "Token must expire in a maximum of 86400 seconds, got 86401s", "exp", ""},
		{"absurd exp", sign(t, "ed1", claims(func(m map[string]any) { m["exp"] = 1e300 })),
			protocol.CodeAuthLifetime, "Token must expire in a maximum of 86400 seconds, got 1e+300s", "exp", ""},
		{"missing sub", sign(t, "rsa1", claims(func(m map[string]any) { delete(m, "sub") })),
			protocol.CodeAuthGeneric, `JWT payload is missing a required claim "sub"`, "sub", ""},
		{"missing iat", sign(t, "rsa1", claims(func(m map[string]any) { delete(m, "iat") })),
			protocol.CodeAuthGeneric, `JWT payload is missing a required claim "iat"`, "iat", ""},
		{"missing exp", sign(t, "rsa1", claims(func(m map[string]any) { delete(m, "exp") })),
			protocol.CodeAuthGeneric, `JWT payload is missing a required claim "exp"`, "exp", ""},
		{"missing aud", sign(t, "rsa1", claims(func(m map[string]any) { delete(m, "aud") })),
			protocol.CodeAuthAudience, `JWT payload is missing a required claim "aud"`, "aud", ""},
		{"aud mismatch as string", sign(t, "rsa1", claims(func(m map[string]any) { m["aud"] = "other" })),
			protocol.CodeAuthAudience, `Unexpected "aud" claim value: "other"`, "aud", ""},
		{"aud mismatch as array", sign(t, "rsa1", claims(func(m map[string]any) { m["aud"] = []string{"a", "b"} })),
			protocol.CodeAuthAudience, `Unexpected "aud" claim value: ["a","b"]`, "aud", ""},
		{"aud a number", sign(t, "rsa1", claims(func(m map[string]any) { m["aud"] = 5 })),
			protocol.CodeAuthAudience, `JWT claim "aud" must be a string or an array of strings, got a number`, "aud", ""},
		{"aud array with a number", sign(t, "rsa1", claims(func(m map[string]any) { m["aud"] = []any{"powersync-dev", 5} })),
			protocol.CodeAuthAudience, `JWT claim "aud" must be a string or an array of strings`, "aud", ""},
		{"tampered payload", tampered,
			protocol.CodeAuthSignature, "Signature verification failed with key " + rsaKey, "", rsaKey},
		{"truncated token", good[:len(good)-4],
			protocol.CodeAuthGeneric, malformed + " The signature is not base64url.", "", ""},
		{"signature three bytes short", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mustB64(t, parts[2])[3:]),
			protocol.CodeAuthSignature, "Signature verification failed with key " + rsaKey, "", rsaKey},
		{"truncated to two parts", parts[0] + "." + parts[1],
			protocol.CodeAuthGeneric, malformed + " A JWT has 3 dot-separated parts, this token has 2.", "", ""},
		{"three segments of garbage", "abc.def.ghi",
			protocol.CodeAuthGeneric, malformed + " The payload is not base64url.", "", ""},
		{"not base64", "!!!.???.***",
			protocol.CodeAuthGeneric, malformed + " The header is not base64url.", "", ""},
		{"padded base64", parts[0] + "==." + parts[1] + "." + parts[2],
			protocol.CodeAuthGeneric, malformed + " The header is not base64url.", "", ""},
		{"empty token", "",
			protocol.CodeAuthGeneric, malformed + " A JWT has 3 dot-separated parts, this token has 1.", "", ""},
		{"a 10 MB token", strings.Repeat("a", 10<<20),
			protocol.CodeAuthGeneric, "Token is too large: 10485760 bytes (the maximum is 65536)", "", ""},
		{"nbf in the future", sign(t, "rsa1", claims(func(m map[string]any) { m["nbf"] = now.Unix() + 600 })),
			protocol.CodeAuthGeneric, `JWT is not valid yet: "nbf" is 10m0s in the future`, "nbf", ""},
		{"parameters an array", sign(t, "rsa1", claims(func(m map[string]any) { m["parameters"] = []int{1} })),
			protocol.CodeAuthGeneric, "Payload parameters must be an object, got an array", "parameters", ""},
		{"parameters a string", sign(t, "rsa1", claims(func(m map[string]any) { m["parameters"] = "x" })),
			protocol.CodeAuthGeneric, "Payload parameters must be an object, got a string", "parameters", ""},
		{"ES384 header on a P-256 key", raw(t, "ec1", hdr("ES384", "ec1"), claims(nil)),
			protocol.CodeAuthGeneric, "Unexpected token algorithm ES384: key " + ecKey + " only accepts ES256", "", ecKey},
		{"RS256 header on an Ed25519 key", raw(t, "rsa1", hdr("RS256", "ed1"), claims(nil)),
			protocol.CodeAuthGeneric, "Unexpected token algorithm RS256: key " + edKey + " only accepts EdDSA", "", edKey},
		{"unsupported algorithm", enc(`{"alg":"PS256","kid":"rsa1"}`) + "." + parts[1] + "." + parts[2],
			protocol.CodeAuthGeneric, `Unsupported token algorithm "PS256" (supported: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, EdDSA)`, "", ""},
		{"no alg", enc(`{"kid":"rsa1"}`) + "." + parts[1] + "." + parts[2],
			protocol.CodeAuthGeneric, `Token header has no "alg"`, "", ""},
		{"kid not a string", enc(`{"alg":"RS256","kid":5}`) + "." + parts[1] + "." + parts[2],
			protocol.CodeAuthGeneric, `Token header "kid" must be a string`, "", ""},
		{"critical header extension", enc(`{"alg":"RS256","kid":"rsa1","crit":["b64"],"b64":false}`) + "." + parts[1] + "." + parts[2],
			protocol.CodeAuthGeneric, `Token header has critical extensions ("crit"), which are not supported`, "", ""},
		{"header JSON null", enc(`null`) + "." + parts[1] + "." + parts[2],
			protocol.CodeAuthGeneric, malformed + " The header is not a JSON object.", "", ""},
		{"empty signature", parts[0] + "." + parts[1] + ".",
			protocol.CodeAuthSignature, "Token has an empty signature", "", ""},
		{"DER-length ECDSA signature", ecParts[0] + "." + ecParts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 70)),
			protocol.CodeAuthSignature, "Signature verification failed with key " + ecKey, "", ecKey},
		{"payload a JSON array", raw(t, "rsa1", hdr("RS256", "rsa1"), []any{1, 2}),
			protocol.CodeAuthGeneric, malformed + " The payload is not a JSON object.", "", ""},
		{"payload with trailing data", raw(t, "rsa1", hdr("RS256", "rsa1"), []byte(`{"sub":"a"} {}`)),
			protocol.CodeAuthGeneric, malformed + " The payload is not a JSON object.", "", ""},
		{"exp a string", sign(t, "rsa1", claims(func(m map[string]any) { m["exp"] = "tomorrow" })),
			protocol.CodeAuthGeneric, `JWT claim "exp" must be a number (seconds since the epoch), got a string`, "exp", ""},
		{"iat null", sign(t, "rsa1", claims(func(m map[string]any) { m["iat"] = nil })),
			protocol.CodeAuthGeneric, `JWT claim "iat" must be a number (seconds since the epoch), got null`, "iat", ""},
		{"sub an object", sign(t, "rsa1", claims(func(m map[string]any) { m["sub"] = map[string]any{"id": 1} })),
			protocol.CodeAuthGeneric, `JWT claim "sub" must be a string or a number, got an object`, "sub", ""},
		{"sub empty", sign(t, "rsa1", claims(func(m map[string]any) { m["sub"] = "" })),
			protocol.CodeAuthGeneric, `JWT claim "sub" is empty`, "sub", ""},
		{"exp before iat", sign(t, "rsa1", claims(func(m map[string]any) { m["iat"] = now.Unix(); m["exp"] = now.Unix() - 30 })),
			protocol.CodeAuthGeneric, `JWT "exp" is before "iat"`, "exp", ""},
		{"nbf a string", sign(t, "rsa1", claims(func(m map[string]any) { m["nbf"] = "now" })),
			protocol.CodeAuthGeneric, `JWT claim "nbf" must be a number (seconds since the epoch), got a string`, "nbf", ""},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if seen[tc.token] {
				t.Fatalf("token duplicates another case")
			}
			seen[tc.token] = true
			id, err := v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted: %+v", id)
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *protocol.Error", err, err)
			}
			if pe.Code != tc.code || pe.Description != tc.msg {
				t.Errorf("got  %s %q\nwant %s %q", pe.Code, pe.Description, tc.code, tc.msg)
			}
			if pe.Status != 401 || pe.Name != "AuthorizationError" {
				t.Errorf("status %d name %q, want 401 AuthorizationError", pe.Status, pe.Name)
			}
			_, err = v.VerifyDetailed(context.Background(), tc.token)
			var ae *auth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("VerifyDetailed error %T is not *auth.Error", err)
			}
			if ae.Claim != tc.claim || ae.Key != tc.key {
				t.Errorf("claim %q key %q, want claim %q key %q", ae.Claim, ae.Key, tc.claim, tc.key)
			}
		})
	}
}

func mustPublicCrypto(t testing.TB, kid string) any {
	t.Helper()
	der, err := key(t, kid).MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(der)
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return priv.(crypto.Signer).Public()
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
