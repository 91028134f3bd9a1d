package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/powersync-go/powersync/internal/storage"
)

// Inspecting instance development tokens from outside the service
// (`powersync verify token`): the key and the switch are read from bucket
// storage, or fetched through the admin API, without creating or changing
// anything.

// DevKeyState is what an instance says about its development tokens.
type DevKeyState struct {
	// Enabled is the "Development tokens" switch as the instance applies
	// it now.
	Enabled bool
	// Saved reports whether the switch was ever saved in storage (before
	// that it follows client_auth.allow_temporary_tokens).
	Saved bool
	// ConfigValue is client_auth.allow_temporary_tokens as it was when the
	// switch was last saved (only when Saved).
	ConfigValue bool
	// Key is the public half of the instance development key, nil when the
	// instance has none yet.
	Key *Key
}

// ReadDevKeyState reads the switch and the instance key from the settings
// of bucket storage. It never writes: an instance without a key stays
// without one.
func ReadDevKeyState(ctx context.Context, settings storage.Settings) (*DevKeyState, error) {
	st := &DevKeyState{}
	b, err := settings.Get(ctx, devSettingKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read the development tokens setting: %w", err)
	default:
		var s devSetting
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, errBadSetting
		}
		st.Saved, st.Enabled, st.ConfigValue = true, s.Enabled, s.Config
	}
	b, err = settings.Get(ctx, devSigningKeyKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("read the instance development key: %w", err)
	default:
		sk, err := ParseSigningKey(b, "")
		if err != nil {
			return nil, fmt.Errorf("the stored instance development key is unusable: %w", err)
		}
		st.Key = DevPublicKey(sk.Public())
	}
	return st, nil
}

// DevPublicKey marks k (the public half of an instance development key,
// read from storage or from the admin API) with what the service applies
// to such keys: their own audience and lifetime limit.
func DevPublicKey(k *Key) *Key {
	k.Source = "instance development key"
	k.Audiences = []string{DevTokenAudience}
	k.MaxLifetime = DevTokenMaxLifetime
	return k
}

// PublicKey returns the public half of the current instance development
// key, nil before it exists.
func (d *DevKeys) PublicKey() *Key {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.signer == nil {
		return nil
	}
	return DevPublicKey(d.signer.Public())
}

// FixedDevKeys is a KeySource with a known instance key and switch, for
// verifying development tokens outside the service.
type FixedDevKeys struct {
	State DevKeyState
}

var _ KeySource = (*FixedDevKeys)(nil)

// Keys returns the instance key, if any (KeySource).
func (f *FixedDevKeys) Keys(context.Context) ([]*Key, error) {
	if f.State.Key == nil {
		return nil, nil
	}
	return []*Key{f.State.Key}, nil
}

// Accept rejects tokens of the instance key while the switch is off, with
// the service's own message (KeySource).
func (f *FixedDevKeys) Accept(string) error {
	if !f.State.Enabled {
		return errDevDisabled
	}
	return nil
}

// LooksLikeDevToken reports whether an unverified token carries the marks
// of an instance development token: a kid "powersync-dev-…", iss
// "powersync-instance" or the development token audience.
func LooksLikeDevToken(token string) bool {
	h, p, err := DecodeUnverified(token)
	if err != nil {
		return false
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
	}
	_ = json.Unmarshal(h, &hdr)
	_ = json.Unmarshal(p, &claims)
	return strings.HasPrefix(hdr.Kid, "powersync-dev-") || claims.Iss == DevTokenIssuer ||
		strings.Contains(string(claims.Aud), `"`+DevTokenAudience+`"`)
}
