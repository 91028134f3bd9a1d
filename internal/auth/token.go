package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/powersync-go/powersync/protocol"
)

// MaxTokenSize is the largest token looked at; anything longer is rejected
// before it is decoded or any key is touched.
const MaxTokenSize = 64 << 10

const malformedMsg = "Token is not a well-formed JWT. Check the token format."

// TokenFromHeader extracts the JWT from an Authorization header value, which
// must be exactly "Token <jwt>" or "Bearer <jwt>" (case-sensitive scheme, one
// space, no whitespace in the token). Anything else is PSYNC_S2106.
func TokenFromHeader(h string) (string, error) {
	tok, ok := strings.CutPrefix(h, "Token ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "Bearer ")
	}
	if !ok || tok == "" || strings.IndexFunc(tok, unicode.IsSpace) >= 0 {
		return "", newError(protocol.CodeAuthMissingToken, "Authentication required").Err
	}
	return tok, nil
}

// header is the decoded JOSE header of a token.
type header struct {
	Alg string
	Kid string
	Typ string
}

// parsedToken is a compact JWS split and decoded, not yet verified.
type parsedToken struct {
	header       header
	rawHeader    []byte
	payload      []byte
	signingInput []byte
	sig          []byte
}

// parseToken splits and decodes a compact JWS and checks its header: size,
// three base64url parts, a JSON header with a supported alg and no critical
// extensions. No key is consulted.
func parseToken(tok string) (*parsedToken, *Error) {
	if len(tok) > MaxTokenSize {
		return nil, newError(protocol.CodeAuthGeneric, "Token is too large: %d bytes (the maximum is %d)", len(tok), MaxTokenSize)
	}
	if strings.Count(tok, ".") != 2 {
		return nil, newError(protocol.CodeAuthGeneric, "%s A JWT has 3 dot-separated parts, this token has %d.", malformedMsg, strings.Count(tok, ".")+1)
	}
	h, rest, _ := strings.Cut(tok, ".")
	p, s, _ := strings.Cut(rest, ".")
	t := &parsedToken{signingInput: []byte(tok[:len(h)+1+len(p)])}
	var err error
	if t.rawHeader, err = b64(h); err != nil || len(t.rawHeader) == 0 {
		return nil, newError(protocol.CodeAuthGeneric, "%s The header is not base64url.", malformedMsg)
	}
	if t.payload, err = b64(p); err != nil || len(p) == 0 {
		return nil, newError(protocol.CodeAuthGeneric, "%s The payload is not base64url.", malformedMsg)
	}
	if t.sig, err = b64(s); err != nil {
		return nil, newError(protocol.CodeAuthGeneric, "%s The signature is not base64url.", malformedMsg)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(t.rawHeader, &fields); err != nil || fields == nil {
		return nil, newError(protocol.CodeAuthGeneric, "%s The header is not a JSON object.", malformedMsg)
	}
	for _, name := range []string{"alg", "kid", "typ"} {
		raw, ok := fields[name]
		if !ok {
			continue
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, newError(protocol.CodeAuthGeneric, "Token header %q must be a string", name)
		}
		switch name {
		case "alg":
			t.header.Alg = v
		case "kid":
			t.header.Kid = v
		case "typ":
			t.header.Typ = v
		}
	}
	if _, ok := fields["crit"]; ok {
		return nil, newError(protocol.CodeAuthGeneric, "Token header has critical extensions (\"crit\"), which are not supported")
	}
	switch {
	case t.header.Alg == "":
		return nil, newError(protocol.CodeAuthGeneric, "Token header has no \"alg\"")
	case strings.EqualFold(t.header.Alg, "none"):
		return nil, newError(protocol.CodeAuthGeneric, "Unsigned tokens (alg %q) are not accepted", t.header.Alg)
	case !slices.Contains(Algorithms, t.header.Alg):
		return nil, newError(protocol.CodeAuthGeneric, "Unsupported token algorithm %q (supported: %s)", t.header.Alg, strings.Join(Algorithms, ", "))
	}
	if len(t.sig) == 0 {
		return nil, newError(protocol.CodeAuthSignature, "Token has an empty signature")
	}
	return t, nil
}

// b64 decodes unpadded base64url strictly (no padding, no other alphabet,
// no trailing bits).
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// DecodeUnverified splits a token and returns its header and payload as
// JSON without checking anything but the encoding. It is for tools that
// show what a token says; never trust the result.
func DecodeUnverified(tok string) (headerJSON, payloadJSON []byte, err error) {
	tok = strings.TrimSpace(tok)
	parts := strings.Split(tok, ".")
	if len(tok) > MaxTokenSize || len(parts) != 3 {
		return nil, nil, fmt.Errorf("not a JWT: expected 3 dot-separated parts")
	}
	if headerJSON, err = b64(parts[0]); err != nil || !json.Valid(headerJSON) {
		return nil, nil, fmt.Errorf("the header is not base64url-encoded JSON")
	}
	if payloadJSON, err = b64(parts[1]); err != nil || !json.Valid(payloadJSON) {
		return nil, nil, fmt.Errorf("the payload is not base64url-encoded JSON")
	}
	return headerJSON, payloadJSON, nil
}

// decodeClaims parses the payload into a map, keeping numbers exact.
func decodeClaims(payload []byte) (map[string]any, *Error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		return nil, newError(protocol.CodeAuthGeneric, "%s The payload is not a JSON object.", malformedMsg)
	}
	return claims, nil
}

// EndpointFromToken returns the first aud of tok that is an http(s) URL
// (without a trailing slash), or "" when there is none. Tools use it to
// default the service endpoint; the token is not verified.
func EndpointFromToken(tok string) string {
	_, p, err := DecodeUnverified(tok)
	if err != nil {
		return ""
	}
	var claims struct {
		Aud any `json:"aud"`
	}
	if json.Unmarshal(p, &claims) != nil {
		return ""
	}
	var auds []string
	switch a := claims.Aud.(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				auds = append(auds, s)
			}
		}
	}
	for _, a := range auds {
		if strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
			return strings.TrimRight(a, "/")
		}
	}
	return ""
}
