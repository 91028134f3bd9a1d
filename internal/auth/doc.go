// Package auth authenticates sync clients: it verifies the JWTs they send
// (Authorization: Token|Bearer <jwt>) against the keys of client_auth —
// inline JWKs, JWKS URIs fetched and cached in the background, Supabase keys
// and an optional dynamic key source such as an instance development key —
// and turns an accepted token into an Identity the sync rules read.
//
// It also holds the other side of the same keys: generating key pairs,
// converting PEM keys to JWKs and signing development tokens, used by the
// `powersync generate` and `powersync verify` commands.
//
// Every verification failure is a *protocol.Error with HTTP status 401 and a
// stable PSYNC_S21xx code whose description names the failing claim or key.
// The rules follow the reference service, with the stricter choices written
// down in docs/auth.md: a future iat is rejected, signature failures have
// their own code (PSYNC_S2102), and an unknown kid triggers one synchronous,
// rate-limited JWKS refresh before the request is answered.
package auth
