package auth

import "github.com/powersync-go/powersync/internal/config"

// OptionsFromConfig turns client_auth into verifier options. Callers add
// what client_auth alone does not say: Logger, Extra (instance keys) and,
// for Supabase, SupabaseJWKSURI from the replication connection (see
// SupabaseJWKSURI and OptionsFromServiceConfig).
func OptionsFromConfig(ca config.ClientAuth) Options {
	return Options{
		JWKS:              ca.JWKS.Keys,
		JWKSURIs:          ca.JWKSURI,
		Audiences:         ca.Audience,
		MaxLifetime:       ca.TokenMaxExpiration,
		Supabase:          ca.Supabase,
		SupabaseJWTSecret: ca.SupabaseJWTSecret,
		BlockLocalJWKS:    ca.BlockLocalJWKS,
		RejectIPRanges:    ca.JWKSRejectIPRanges,
	}
}

// OptionsFromServiceConfig is OptionsFromConfig plus what other sections
// contribute: with client_auth.supabase on, the Supabase project's JWKS URI
// is taken from the first replication connection's host.
func OptionsFromServiceConfig(cfg *config.Config) Options {
	o := OptionsFromConfig(cfg.ClientAuth)
	if len(cfg.Replication.Connections) == 0 {
		return o
	}
	c := cfg.Replication.Connections[0]
	uri, ok := SupabaseJWKSURI(c.Hostname, c.URI)
	switch {
	case ok && cfg.ClientAuth.Supabase:
		o.SupabaseJWKSURI = uri
	case ok:
		o.notes = append(o.notes, "the source database is a Supabase database, but client_auth.supabase is off: Supabase Auth tokens will not be accepted")
	}
	return o
}
