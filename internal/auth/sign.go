package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// SigningKey is a private key (or HMAC secret) that signs tokens: what
// `powersync generate keys` creates and `generate token` signs with.
type SigningKey struct {
	// KID goes into the token header when not empty.
	KID string
	// Alg is the algorithm tokens are signed with.
	Alg string

	signer crypto.Signer // RSA, ECDSA or Ed25519 private key
	secret []byte        // HMAC
}

// GenerateKey creates a new key for alg: RSA 2048 for RS*, the curve of
// ES256/ES384/ES512, Ed25519 for EdDSA, 32 random bytes for HS256 (48 and 64
// for HS384 and HS512).
func GenerateKey(alg, kid string) (*SigningKey, error) {
	info, ok := algs[alg]
	if !ok {
		return nil, fmt.Errorf("unsupported algorithm %q (supported: %s)", alg, strings.Join(Algorithms, ", "))
	}
	s := &SigningKey{KID: kid, Alg: alg}
	var err error
	switch info.kty {
	case "RSA":
		s.signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EC":
		s.signer, err = ecdsa.GenerateKey(curveByName(info.crv), rand.Reader)
	case "OKP":
		_, s.signer, err = ed25519.GenerateKey(rand.Reader)
	case "oct":
		s.secret = make([]byte, info.hash.Size())
		_, err = rand.Read(s.secret)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return s, nil
}

// NewHMACKey wraps a verification key of kty oct as a signing key.
func NewHMACKey(k *Key) (*SigningKey, error) {
	if k.Kty != "oct" {
		return nil, fmt.Errorf("key %s is not an HMAC key", k.Describe())
	}
	alg := k.Alg
	if alg == "" {
		alg = "HS256"
	}
	return &SigningKey{KID: k.KID, Alg: alg, secret: k.secret}, nil
}

// ParseSigningKey reads a private key from PEM (PKCS#1, PKCS#8 or SEC 1) or
// from a private JWK (JSON with "d", or "k" for HMAC). alg, when not empty,
// overrides the algorithm (it must fit the key); otherwise it comes from the
// JWK or from the key type (RSA → RS256, EC by curve, Ed25519 → EdDSA).
func ParseSigningKey(data []byte, alg string) (*SigningKey, error) {
	var s *SigningKey
	var err error
	trimmed := strings.TrimSpace(string(data))
	switch {
	case strings.HasPrefix(trimmed, "{"):
		s, err = parsePrivateJWK([]byte(trimmed))
	case strings.Contains(trimmed, "-----BEGIN"):
		s, err = parsePrivatePEM([]byte(trimmed))
	default:
		err = errors.New("not a PEM private key or a JSON Web Key")
	}
	if err != nil {
		return nil, err
	}
	if alg != "" {
		s.Alg = alg
	}
	if s.Alg == "" {
		pub := s.Public()
		s.Alg = defaultAlg(pub.Kty, pub.Crv)
	}
	if !s.Public().Allows(s.Alg) {
		return nil, fmt.Errorf("algorithm %s does not fit a %s key", s.Alg, s.Public().Kty)
	}
	return s, nil
}

func parsePrivatePEM(data []byte) (*SigningKey, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no private key found in the PEM data")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "EC PARAMETERS":
			continue
		case "PUBLIC KEY", "RSA PUBLIC KEY":
			return nil, errors.New("this PEM holds a public key; signing needs the private key")
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %w", block.Type, err)
		}
		return signingKeyOf(key)
	}
}

func signingKeyOf(key any) (*SigningKey, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("the RSA key has %d bits; at least %d are required", k.N.BitLen(), MinRSABits)
		}
		return &SigningKey{signer: k}, nil
	case *ecdsa.PrivateKey:
		if curveName(k.Curve) == "" {
			return nil, errors.New("unsupported EC curve (P-256, P-384 or P-521)")
		}
		return &SigningKey{signer: k}, nil
	case ed25519.PrivateKey:
		return &SigningKey{signer: k}, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", key)
}

func parsePrivateJWK(data []byte) (*SigningKey, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("JWK is not a JSON object: %w", err)
	}
	if kty, _ := m["kty"].(string); kty == "oct" {
		pub, err := parseJWK(m, jwkInline)
		if err != nil {
			return nil, err
		}
		return &SigningKey{KID: pub.KID, Alg: pub.Alg, secret: pub.secret}, nil
	}
	pub, err := parseJWK(m, jwkRemote)
	if err != nil {
		return nil, err
	}
	if _, ok := m["d"]; !ok {
		return nil, errors.New("this JWK is a public key (no \"d\"); signing needs the private key")
	}
	d, err := bytesField(m, "d")
	if err != nil {
		return nil, err
	}
	s := &SigningKey{KID: pub.KID, Alg: pub.Alg}
	switch pub.Kty {
	case "RSA":
		priv, err := rsaFromJWK(m, pub.rsa, d)
		if err != nil {
			return nil, err
		}
		s.signer = priv
	case "EC":
		priv, err := ecdsa.ParseRawPrivateKey(pub.ec.Curve, padLeft(d, coordSize(pub.ec.Curve)))
		if err != nil {
			return nil, fmt.Errorf("d: %w", err)
		}
		if !priv.PublicKey.Equal(pub.ec) {
			return nil, errors.New("d does not belong to x, y")
		}
		s.signer = priv
	case "OKP":
		if len(d) != ed25519.SeedSize {
			return nil, fmt.Errorf("d must be %d bytes for Ed25519", ed25519.SeedSize)
		}
		priv := ed25519.NewKeyFromSeed(d)
		if !priv.Public().(ed25519.PublicKey).Equal(pub.ed) {
			return nil, errors.New("d does not belong to x")
		}
		s.signer = priv
	}
	return s, nil
}

func padLeft(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

// rsaFromJWK builds an RSA private key from n, e, d and the primes p, q.
func rsaFromJWK(m map[string]any, pub *rsa.PublicKey, d []byte) (*rsa.PrivateKey, error) {
	p, err := bytesField(m, "p")
	if err != nil {
		return nil, fmt.Errorf("an RSA private JWK needs p and q: %w", err)
	}
	q, err := bytesField(m, "q")
	if err != nil {
		return nil, fmt.Errorf("an RSA private JWK needs p and q: %w", err)
	}
	priv := &rsa.PrivateKey{
		PublicKey: *pub,
		D:         new(big.Int).SetBytes(d),
		Primes:    []*big.Int{new(big.Int).SetBytes(p), new(big.Int).SetBytes(q)},
	}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("invalid RSA private key: %w", err)
	}
	priv.Precompute()
	return priv, nil
}

// ParsePublicPEM reads a public key from PEM: a public key (SPKI or PKCS#1)
// or a private key, whose public half is returned.
func ParsePublicPEM(data []byte) (*Key, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no key found in the PEM data")
		}
		var pub any
		var err error
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			s, perr := parsePrivatePEM(pem.EncodeToMemory(block))
			if perr != nil {
				return nil, perr
			}
			return s.Public(), nil
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("PEM %s: %w", block.Type, err)
		}
		return publicKeyOf(pub)
	}
}

func publicKeyOf(pub any) (*Key, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("the RSA key has %d bits; at least %d are required", p.N.BitLen(), MinRSABits)
		}
		return &Key{Kty: "RSA", rsa: p}, nil
	case *ecdsa.PublicKey:
		name := curveName(p.Curve)
		if name == "" {
			return nil, errors.New("unsupported EC curve (P-256, P-384 or P-521)")
		}
		return &Key{Kty: "EC", Crv: name, ec: p}, nil
	case ed25519.PublicKey:
		return &Key{Kty: "OKP", Crv: "Ed25519", ed: p}, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T", pub)
}

// Public returns the verification key of s (for HMAC, the secret itself),
// with s's kid and alg.
func (s *SigningKey) Public() *Key {
	var k *Key
	if s.secret != nil {
		k = &Key{Kty: "oct", secret: s.secret}
	} else {
		k, _ = publicKeyOf(s.signer.Public()) // s.signer is always a supported type
	}
	k.KID, k.Alg = s.KID, s.Alg
	return k
}

// Matches reports whether k is the public half of s.
func (s *SigningKey) Matches(k *Key) bool { return s.Public().samePublic(k) }

// MarshalPEM encodes the private key as PKCS#8 PEM. HMAC secrets have no
// PEM form.
func (s *SigningKey) MarshalPEM() ([]byte, error) {
	if s.signer == nil {
		return nil, errors.New("an HMAC secret has no PEM form; use the JWK format")
	}
	der, err := x509.MarshalPKCS8PrivateKey(s.signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// MarshalJWK encodes the private key as a JWK (JSON, with "d" or "k").
func (s *SigningKey) MarshalJWK() ([]byte, error) {
	m := s.Public().JWKMap()
	enc := base64.RawURLEncoding.EncodeToString
	switch k := s.signer.(type) {
	case *rsa.PrivateKey:
		m["d"] = enc(k.D.Bytes())
		m["p"] = enc(k.Primes[0].Bytes())
		m["q"] = enc(k.Primes[1].Bytes())
		if k.Precomputed.Dp != nil {
			m["dp"] = enc(k.Precomputed.Dp.Bytes())
			m["dq"] = enc(k.Precomputed.Dq.Bytes())
			m["qi"] = enc(k.Precomputed.Qinv.Bytes())
		}
	case *ecdsa.PrivateKey:
		d, err := k.Bytes()
		if err != nil {
			return nil, err
		}
		m["d"] = enc(d)
	case ed25519.PrivateKey:
		m["d"] = enc(k.Seed())
	}
	return json.MarshalIndent(m, "", "  ")
}

// Sign makes a compact JWS of claims with s: header {"alg","typ":"JWT"}
// plus "kid" when s has one.
func (s *SigningKey) Sign(claims map[string]any) (string, error) {
	h := map[string]any{"alg": s.Alg, "typ": "JWT"}
	if s.KID != "" {
		h["kid"] = s.KID
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	pj, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	input := enc(hj) + "." + enc(pj)
	sig, err := s.signBytes([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + enc(sig), nil
}

func (s *SigningKey) signBytes(input []byte) ([]byte, error) {
	info, ok := algs[s.Alg]
	if !ok || !s.Public().Allows(s.Alg) {
		return nil, fmt.Errorf("algorithm %q does not fit this key", s.Alg)
	}
	switch k := s.signer.(type) {
	case nil:
		mac := hmac.New(hashFunc(info.hash), s.secret)
		mac.Write(input)
		return mac.Sum(nil), nil
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(rand.Reader, k, info.hash, digest(info.hash, input))
	case *ecdsa.PrivateKey:
		r, sv, err := ecdsa.Sign(rand.Reader, k, digest(info.hash, input))
		if err != nil {
			return nil, err
		}
		size := coordSize(k.Curve)
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		sv.FillBytes(out[size:])
		return out, nil
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input), nil
	}
	return nil, fmt.Errorf("unsupported key type %T", s.signer)
}

// TokenClaims are the claims of a development token.
type TokenClaims struct {
	Subject   string
	Audiences []string
	Issuer    string
	IssuedAt  time.Time
	Lifetime  time.Duration
	// Parameters, when not nil, become the "parameters" claim.
	Parameters map[string]any
}

// Map returns the claims as a JWT payload.
func (c TokenClaims) Map() map[string]any {
	iat := c.IssuedAt.Unix()
	m := map[string]any{
		"sub": c.Subject,
		"iat": iat,
		"exp": iat + int64(c.Lifetime/time.Second),
	}
	if len(c.Audiences) == 1 {
		m["aud"] = c.Audiences[0]
	} else if len(c.Audiences) > 1 {
		m["aud"] = c.Audiences
	}
	if c.Issuer != "" {
		m["iss"] = c.Issuer
	}
	if c.Parameters != nil {
		m["parameters"] = c.Parameters
	}
	return m
}

func b64enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
