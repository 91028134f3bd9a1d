package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/config"
)

func TestOptionsFromServiceConfig(t *testing.T) {
	src := `
replication:
  connections:
    - type: postgresql
      uri: postgresql://postgres:pw@db.myproj.supabase.co:5432/postgres
client_auth:
  supabase: true
  supabase_jwt_secret: a-supabase-secret-of-some-length-0123456789
  audience: [app]
  token_max_expiration: 2h
  jwks_uri: [https://a.example.com/jwks.json, https://b.example.com/jwks.json]
  jwks_reject_ip_ranges: [local, 10.0.0.0/8]
`
	cfg, err := config.Parse([]byte(src), "service.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	o := auth.OptionsFromServiceConfig(cfg)
	if o.SupabaseJWKSURI != "https://myproj.supabase.co/auth/v1/.well-known/jwks.json" || !o.Supabase || o.SupabaseJWTSecret == "" {
		t.Errorf("supabase options %+v", o)
	}
	if len(o.JWKSURIs) != 2 || o.MaxLifetime != 2*time.Hour || len(o.Audiences) != 1 || len(o.RejectIPRanges) != 2 {
		t.Errorf("options %+v", o)
	}
	v, err := auth.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	v.Close(context.Background())

	cfg.ClientAuth.Supabase = false
	v, err = auth.NewVerifier(auth.OptionsFromServiceConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(context.Background())
	if w := strings.Join(v.Warnings(), "\n"); !strings.Contains(w, "Supabase database, but client_auth.supabase is off") {
		t.Errorf("warnings %q", w)
	}
}
