package auth

import (
	"fmt"
	"net/http"

	"github.com/powersync-go/powersync/protocol"
)

// Codes of authentication configuration errors. The client-facing S21xx codes
// live in package protocol.
const (
	CodeAuthConfig     = "PSYNC_S2201" // generic auth configuration error
	CodeIPv6Disabled   = "PSYNC_S2202" // IPv6 not enabled for JWKS URI
	CodeIPRangeBlocked = "PSYNC_S2203" // JWKS address in a rejected range
	CodeJWKSFailed     = "PSYNC_S2204" // JWKS request failed or invalid response
	CodeInvalidJWKSURI = "PSYNC_S3102" // jwks_uri does not parse
	CodeJWKSURIScheme  = "PSYNC_S3103" // jwks_uri is not http(s)
)

// Error is a verification failure together with what it concerns. Verify
// returns only the *protocol.Error; VerifyDetailed returns an *Error so tools
// such as `powersync verify token` can say which claim or key failed.
type Error struct {
	// Err is the client-facing error (HTTP 401, a PSYNC code).
	Err *protocol.Error
	// Claim is the failing claim ("exp", "aud", …), empty when the failure is
	// not about a claim.
	Claim string
	// Key describes the key involved (`kid "k1" (RS256, jwks.keys)`), empty
	// when no key was chosen.
	Key string
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the *protocol.Error.
func (e *Error) Unwrap() error { return e.Err }

func newError(code, format string, args ...any) *Error {
	return &Error{Err: &protocol.Error{
		Name:        protocol.NameAuthorizationError,
		Code:        code,
		Status:      http.StatusUnauthorized,
		Description: fmt.Sprintf(format, args...),
	}}
}

func claimError(code, claim, format string, args ...any) *Error {
	e := newError(code, format, args...)
	e.Claim = claim
	return e
}

func keyError(code string, k *Key, format string, args ...any) *Error {
	e := newError(code, format, args...)
	if k != nil {
		e.Key = k.Describe()
	}
	return e
}

// ConfigError is a problem with client_auth found at startup (an unusable
// key, a bad jwks_uri, a bad IP range). Code is one of the S22xx/S31xx codes.
type ConfigError struct {
	Code string
	// Field is the config path, e.g. "client_auth.jwks.keys[1]".
	Field string
	Msg   string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("[%s] %s: %s", e.Code, e.Field, e.Msg)
}
