package auth

// SignRaw signs arbitrary header and payload JSON with s, as is; tests use
// it to build tokens no honest signer would.
func SignRaw(s *SigningKey, header, payload []byte) (string, error) {
	input := b64enc(header) + "." + b64enc(payload)
	sig, err := s.signBytes([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + b64enc(sig), nil
}

// CacheLen reports how many tokens v has cached.
func CacheLen(v *Verifier) int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}
