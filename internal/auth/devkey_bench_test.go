package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
)

// BenchmarkDevToken measures minting a development token with the instance
// key, and verifying one through the verifier's extra key source (cached:
// a client reconnecting; uncached: the switch check plus an Ed25519
// signature every time).
func BenchmarkDevToken(b *testing.B) {
	ctx := context.Background()
	d, err := auth.OpenDevKeys(ctx, auth.DevKeyOptions{Settings: &memSettings{}, Default: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("mint", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.Mint(ctx, auth.DevTokenRequest{Subject: "user-1", InstanceURL: "http://127.0.0.1:8080"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	tok, err := d.Mint(ctx, auth.DevTokenRequest{Subject: "user-1", InstanceURL: "http://127.0.0.1:8080"})
	if err != nil {
		b.Fatal(err)
	}
	for _, cached := range []bool{true, false} {
		name, size := "verify/uncached", -1
		if cached {
			name, size = "verify/cached", 0
		}
		b.Run(name, func(b *testing.B) {
			v := newVerifier(b, auth.Options{Extra: d, Audiences: audiences, CacheSize: size, Now: time.Now})
			for b.Loop() {
				if _, err := v.Verify(ctx, tok.Token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
