package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"
	"time"
)

// Algorithms lists every JWS algorithm a token may use. Anything else —
// "none", PS256, ES256K, … — is rejected before a key is looked at.
var Algorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// algInfo ties an algorithm to the only key type (and curve) it may be used
// with; this is what makes HS/RS confusion impossible.
type algInfo struct {
	kty  string
	crv  string // EC curve for ES*, "Ed25519" for EdDSA
	hash crypto.Hash
}

var algs = map[string]algInfo{
	"HS256": {kty: "oct", hash: crypto.SHA256},
	"HS384": {kty: "oct", hash: crypto.SHA384},
	"HS512": {kty: "oct", hash: crypto.SHA512},
	"RS256": {kty: "RSA", hash: crypto.SHA256},
	"RS384": {kty: "RSA", hash: crypto.SHA384},
	"RS512": {kty: "RSA", hash: crypto.SHA512},
	"ES256": {kty: "EC", crv: "P-256", hash: crypto.SHA256},
	"ES384": {kty: "EC", crv: "P-384", hash: crypto.SHA384},
	"ES512": {kty: "EC", crv: "P-521", hash: crypto.SHA512},
	"EdDSA": {kty: "OKP", crv: "Ed25519"},
}

// MinRSABits is the smallest RSA modulus accepted for verification.
const MinRSABits = 2048

// errSkipKey marks a JWK that is valid but not meant for verifying
// signatures (use other than "sig", key_ops without "verify", a symmetric
// key published on a JWKS URI).
var errSkipKey = errors.New("key is not a signature verification key")

// errUnsupportedKey marks a JWK of a type, curve or size this service does
// not verify with; a JWKS URI may publish such keys next to usable ones.
var errUnsupportedKey = errors.New("unsupported key")

// Key is a public verification key (or, for HMAC, a shared secret) with the
// options that come from where it was configured.
type Key struct {
	// KID is the key id; empty for a kid-less ("wildcard") key, which is
	// tried for every token whose kid matches no key.
	KID string
	// Alg is the one algorithm the key accepts; empty means any algorithm of
	// its key type (and curve).
	Alg string
	// Kty is RSA, EC, OKP or oct.
	Kty string
	// Crv is the curve of EC and OKP keys.
	Crv string
	// Audiences, when not nil, replace the verifier's audiences for tokens
	// signed by this key (Supabase keys require "authenticated").
	Audiences []string
	// MaxLifetime, when not zero, replaces the verifier's maximum exp - iat.
	MaxLifetime time.Duration
	// Source says where the key came from, e.g. "client_auth.jwks.keys[0]"
	// or a JWKS URI; shown in messages and by `powersync verify token`.
	Source string

	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
	secret []byte
	// fromExtra marks keys of Options.Extra, whose Accept is consulted.
	fromExtra bool
}

// Describe names the key for messages: `kid "k1" (RS256, client_auth.jwks.keys[0])`.
func (k *Key) Describe() string {
	id := "kid-less key"
	if k.KID != "" {
		id = fmt.Sprintf("kid %q", k.KID)
	}
	alg := k.Alg
	if alg == "" {
		alg = k.Kty
	}
	if k.Source == "" {
		return fmt.Sprintf("%s (%s)", id, alg)
	}
	return fmt.Sprintf("%s (%s, %s)", id, alg, k.Source)
}

// Allows reports whether a token signed with alg may be verified by k: the
// algorithm must belong to the key's type (and curve), and equal the key's
// alg when it has one.
func (k *Key) Allows(alg string) bool {
	info, ok := algs[alg]
	if !ok || info.kty != k.Kty {
		return false
	}
	if info.crv != "" && info.crv != k.Crv {
		return false
	}
	return k.Alg == "" || k.Alg == alg
}

// verify checks sig over input with alg; Allows(alg) must hold.
func (k *Key) verify(alg string, input, sig []byte) bool {
	info := algs[alg]
	switch k.Kty {
	case "oct":
		mac := hmac.New(hashFunc(info.hash), k.secret)
		mac.Write(input)
		return hmac.Equal(mac.Sum(nil), sig)
	case "RSA":
		return rsa.VerifyPKCS1v15(k.rsa, info.hash, digest(info.hash, input), sig) == nil
	case "EC":
		size := coordSize(k.ec.Curve)
		if len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k.ec, digest(info.hash, input), r, s)
	case "OKP":
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, input, sig)
	}
	return false
}

func hashFunc(h crypto.Hash) func() hash.Hash {
	switch h {
	case crypto.SHA384:
		return sha512.New384
	case crypto.SHA512:
		return sha512.New
	default:
		return sha256.New
	}
}

func digest(h crypto.Hash, input []byte) []byte {
	d := hashFunc(h)()
	d.Write(input)
	return d.Sum(nil)
}

func coordSize(c elliptic.Curve) int { return (c.Params().BitSize + 7) / 8 }

func curveByName(name string) elliptic.Curve {
	switch name {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	return nil
}

func curveName(c elliptic.Curve) string {
	switch c {
	case elliptic.P256():
		return "P-256"
	case elliptic.P384():
		return "P-384"
	case elliptic.P521():
		return "P-521"
	}
	return ""
}

// defaultAlg is the algorithm a key of this type is used with when its JWK
// names none (RSA → RS256; EC and OKP have one per curve).
func defaultAlg(kty, crv string) string {
	switch kty {
	case "RSA":
		return "RS256"
	case "oct":
		return "HS256"
	case "OKP":
		return "EdDSA"
	case "EC":
		for name, info := range algs {
			if info.kty == "EC" && info.crv == crv {
				return name
			}
		}
	}
	return ""
}

// jwkMode says how strictly a JWK is read: inline config keys follow the
// reference's schema (alg required except for RSA, kid required for RSA);
// keys from a JWKS URI only need to be usable.
type jwkMode int

const (
	jwkInline jwkMode = iota
	jwkRemote
)

// ParseJWK reads a public JWK (a private one is accepted too; only its
// public part is used) as it appears in client_auth.jwks.keys.
func ParseJWK(m map[string]any) (*Key, error) { return parseJWK(m, jwkInline) }

// ParseJWKJSON is ParseJWK of a JSON object.
func ParseJWKJSON(data []byte) (*Key, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("JWK is not a JSON object: %w", err)
	}
	return ParseJWK(m)
}

func parseJWK(m map[string]any, mode jwkMode) (*Key, error) {
	kty, err := stringField(m, "kty", true)
	if err != nil {
		return nil, err
	}
	k := &Key{Kty: kty}
	if k.KID, err = stringField(m, "kid", false); err != nil {
		return nil, err
	}
	if k.Alg, err = stringField(m, "alg", false); err != nil {
		return nil, err
	}
	use, err := stringField(m, "use", false)
	if err != nil {
		return nil, err
	}
	if use != "" && use != "sig" {
		return nil, fmt.Errorf("%w (use is %q, not \"sig\")", errSkipKey, use)
	}
	if ops, ok := m["key_ops"]; ok {
		list, ok := ops.([]any)
		if !ok {
			return nil, fmt.Errorf("key_ops must be a list of strings")
		}
		if !slices.Contains(list, any("verify")) {
			return nil, fmt.Errorf("%w (key_ops has no \"verify\")", errSkipKey)
		}
	}
	if k.Alg != "" {
		info, ok := algs[k.Alg]
		if !ok {
			return nil, fmt.Errorf("%w: alg %q is not supported (supported: %s)", errUnsupportedKey, k.Alg, strings.Join(Algorithms, ", "))
		}
		if info.kty != kty {
			return nil, fmt.Errorf("alg %s cannot be used with a %s key (it needs kty %s)", k.Alg, kty, info.kty)
		}
	}
	switch kty {
	case "RSA":
		if mode == jwkInline && k.KID == "" {
			return nil, fmt.Errorf("an RSA key needs a kid")
		}
		n, err := bytesField(m, "n")
		if err != nil {
			return nil, err
		}
		e, err := bytesField(m, "e")
		if err != nil {
			return nil, err
		}
		if len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("e must be a small positive integer")
		}
		exp := int(new(big.Int).SetBytes(e).Int64())
		if exp < 3 || exp%2 == 0 {
			return nil, fmt.Errorf("e = %d is not a valid RSA exponent", exp)
		}
		mod := new(big.Int).SetBytes(n)
		if mod.BitLen() < MinRSABits {
			return nil, fmt.Errorf("%w: RSA modulus has %d bits; at least %d are required", errUnsupportedKey, mod.BitLen(), MinRSABits)
		}
		k.rsa = &rsa.PublicKey{N: mod, E: exp}
	case "EC":
		if mode == jwkInline && k.Alg == "" {
			return nil, fmt.Errorf("an EC key needs alg (ES256, ES384 or ES512)")
		}
		crv, err := stringField(m, "crv", true)
		if err != nil {
			return nil, err
		}
		curve := curveByName(crv)
		if curve == nil {
			return nil, fmt.Errorf("%w: crv %q is not supported (P-256, P-384 or P-521)", errUnsupportedKey, crv)
		}
		k.Crv = crv
		if k.Alg != "" && algs[k.Alg].crv != crv {
			return nil, fmt.Errorf("alg %s needs curve %s, the key is %s", k.Alg, algs[k.Alg].crv, crv)
		}
		size := coordSize(curve)
		x, err := coordField(m, "x", size)
		if err != nil {
			return nil, err
		}
		y, err := coordField(m, "y", size)
		if err != nil {
			return nil, err
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("x, y are not a point on %s", crv)
		}
		k.ec = pub
	case "OKP":
		if mode == jwkInline && k.Alg == "" {
			return nil, fmt.Errorf("an OKP key needs alg EdDSA")
		}
		crv, err := stringField(m, "crv", true)
		if err != nil {
			return nil, err
		}
		if crv != "Ed25519" {
			return nil, fmt.Errorf("%w: crv %q is not supported (only Ed25519)", errUnsupportedKey, crv)
		}
		k.Crv = crv
		x, err := bytesField(m, "x")
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("x must be %d bytes for Ed25519, got %d", ed25519.PublicKeySize, len(x))
		}
		k.ed = ed25519.PublicKey(x)
	case "oct":
		if mode == jwkRemote {
			return nil, fmt.Errorf("%w (symmetric keys are not taken from a JWKS URI)", errSkipKey)
		}
		if k.Alg == "" {
			return nil, fmt.Errorf("an oct (HMAC) key needs alg (HS256, HS384 or HS512)")
		}
		secret, err := bytesField(m, "k")
		if err != nil {
			return nil, err
		}
		if len(secret) == 0 {
			return nil, fmt.Errorf("k is empty")
		}
		k.secret = secret
	default:
		return nil, fmt.Errorf("%w: kty %q is not supported (RSA, EC, OKP or oct)", errUnsupportedKey, kty)
	}
	return k, nil
}

func stringField(m map[string]any, name string, required bool) (string, error) {
	v, ok := m[name]
	if !ok || v == nil {
		if required {
			return "", fmt.Errorf("%s is required", name)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, got %s", name, jsonType(v))
	}
	if required && s == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return s, nil
}

// bytesField decodes a base64url member. Padding is tolerated; standard
// base64 characters are not (they would mean the value was encoded wrongly).
func bytesField(m map[string]any, name string) ([]byte, error) {
	s, err := stringField(m, name, true)
	if err != nil {
		return nil, err
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%s is not base64url: %v", name, err)
	}
	return b, nil
}

// coordField decodes an EC coordinate of exactly size bytes; shorter values
// (leading zeros dropped by some encoders) are padded.
func coordField(m map[string]any, name string, size int) ([]byte, error) {
	b, err := bytesField(m, name)
	if err != nil {
		return nil, err
	}
	if len(b) > size {
		return nil, fmt.Errorf("%s has %d bytes; the curve needs %d", name, len(b), size)
	}
	if len(b) < size {
		b = append(make([]byte, size-len(b)), b...)
	}
	return b, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, json.Number, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// JWKField is one member of a JWK, in the order it is printed.
type JWKField struct {
	Name  string
	Value string
}

// PublicJWK returns the members of the key's public JWK in a stable order
// (kty, alg, kid, use, then the key material). For an HMAC key this includes
// the secret k, since that is what verification needs.
func (k *Key) PublicJWK() []JWKField {
	alg := k.Alg
	if alg == "" {
		alg = defaultAlg(k.Kty, k.Crv)
	}
	f := []JWKField{{"kty", k.Kty}, {"alg", alg}}
	if k.KID != "" {
		f = append(f, JWKField{"kid", k.KID})
	}
	f = append(f, JWKField{"use", "sig"})
	enc := base64.RawURLEncoding.EncodeToString
	switch k.Kty {
	case "RSA":
		f = append(f, JWKField{"n", enc(k.rsa.N.Bytes())}, JWKField{"e", enc(big.NewInt(int64(k.rsa.E)).Bytes())})
	case "EC":
		b, _ := k.ec.Bytes() // a parsed or generated key always encodes
		size := coordSize(k.ec.Curve)
		f = append(f, JWKField{"crv", k.Crv}, JWKField{"x", enc(b[1 : 1+size])}, JWKField{"y", enc(b[1+size:])})
	case "OKP":
		f = append(f, JWKField{"crv", k.Crv}, JWKField{"x", enc(k.ed)})
	case "oct":
		f = append(f, JWKField{"k", enc(k.secret)})
	}
	return f
}

// JWKMap is PublicJWK as a map, e.g. for JSON or a JWKS document.
func (k *Key) JWKMap() map[string]any {
	m := map[string]any{}
	for _, f := range k.PublicJWK() {
		m[f.Name] = f.Value
	}
	return m
}

// RSAModulus returns the modulus of an RSA key, nil for other key types.
func (k *Key) RSAModulus() *big.Int {
	if k.rsa == nil {
		return nil
	}
	return k.rsa.N
}

// samePublic reports whether k and o are the same key material.
func (k *Key) samePublic(o *Key) bool {
	if k.Kty != o.Kty {
		return false
	}
	switch k.Kty {
	case "RSA":
		return k.rsa.Equal(o.rsa)
	case "EC":
		return k.ec.Equal(o.ec)
	case "OKP":
		return k.ed.Equal(o.ed)
	case "oct":
		return hmac.Equal(k.secret, o.secret)
	}
	return false
}
