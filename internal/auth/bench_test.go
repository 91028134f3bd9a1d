package auth_test

import (
	"context"
	"testing"

	"github.com/powersync-go/powersync/internal/auth"
)

// BenchmarkVerify measures verifications per second per algorithm, with the
// token cache (a client reconnecting with the same token) and without (a
// new token every time: the signature check dominates).
func BenchmarkVerify(b *testing.B) {
	for _, kid := range []string{"hs1", "rsa1", "ec1", "ed1"} {
		for _, cached := range []bool{true, false} {
			name := key(b, kid).Alg + "/uncached"
			size := -1
			if cached {
				name = key(b, kid).Alg + "/cached"
				size = 0
			}
			b.Run(name, func(b *testing.B) {
				v := newVerifier(b, auth.Options{JWKS: []map[string]any{jwkOf(key(b, kid))}, Audiences: audiences, CacheSize: size})
				tok := sign(b, kid, claims(func(m map[string]any) { m["parameters"] = map[string]any{"team": "t1"} }))
				ctx := context.Background()
				for b.Loop() {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
