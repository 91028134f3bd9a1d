package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/protocol"
)

// Instance development tokens (the hosted product's "Development tokens"
// for self-hosted instances). The instance keeps an Ed25519 signing key of
// its own in bucket storage (so every process sharing that storage knows
// it) and a switch, also in storage. DevKeys is the Verifier's extra key
// source for that key: its tokens verify only while the switch is on, and
// turning it off closes the channel open sync streams of those tokens wait
// on, so they end at once.

// Settings keys in bucket storage.
const (
	devSettingKey    = "dev_tokens"
	devSigningKeyKey = "dev_signing_key"
)

// Development token defaults.
const (
	// DevTokenLifetime is the lifetime of a development token (as hosted).
	DevTokenLifetime = 12 * time.Hour
	// DevTokenMaxLifetime bounds a requested lifetime (the service maximum).
	DevTokenMaxLifetime = 24 * time.Hour
	// DevTokenAudience is in the aud of every development token; the
	// instance key accepts tokens for it (next to the instance URL, which
	// is what clients such as the diagnostics app read from aud).
	DevTokenAudience = "powersync-dev-token"
	// DevTokenIssuer is the iss of development tokens.
	DevTokenIssuer = "powersync-instance"
	// DefaultDevPollInterval is how often the switch and key are re-read
	// from storage, for changes made by another process.
	DefaultDevPollInterval = 5 * time.Second
)

// Errors of Mint.
var (
	// ErrDevTokensDisabled is returned while the switch is off.
	ErrDevTokensDisabled = errors.New("development tokens are disabled for this instance")
	// ErrDevTokenRequest wraps what is wrong with a request (the subject
	// or the lifetime).
	ErrDevTokenRequest = errors.New("invalid development token request")
)

// errBadSetting marks a stored switch that does not decode.
var errBadSetting = errors.New("the stored development tokens setting is not valid JSON")

// errDevDisabled is the client-facing rejection of a development token.
var errDevDisabled = &protocol.Error{
	Name: protocol.NameAuthorizationError, Code: protocol.CodeAuthGeneric, Status: http.StatusUnauthorized,
	Description: "Development tokens are disabled for this instance: turn on \"Development tokens\" in the dashboard (/dashboard), or use a token signed with a client_auth key",
}

// devSetting is the stored switch. Config is the value of
// client_auth.allow_temporary_tokens when the switch was last written: when
// the config now says something else, the config was changed since, and
// the newer decision wins.
type devSetting struct {
	Enabled   bool      `json:"enabled"`
	Config    bool      `json:"config"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DevKeyOptions configure DevKeys.
type DevKeyOptions struct {
	// Settings is the instance settings area of bucket storage. Required.
	Settings storage.Settings
	// Default is client_auth.allow_temporary_tokens: the switch's value
	// until it is saved, and again whenever the config value changes.
	Default bool
	// PollInterval is how often Start re-reads the stored switch and key
	// (DefaultDevPollInterval).
	PollInterval time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DevKeys holds the instance development key and the "Development tokens"
// switch. It implements KeySource. Create it with OpenDevKeys; Start keeps
// it in step with changes made by other processes; Close stops that.
type DevKeys struct {
	settings storage.Settings
	def      bool
	poll     time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu      sync.Mutex    // guards the fields below
	enabled bool          // the switch
	off     chan struct{} // closed when the switch goes off; replaced when it goes on
	signer  *SigningKey   // the current key, nil until first used
	known   []*Key        // every instance key seen by this process (public halves)

	mintMu sync.Mutex // serializes key creation

	lifeMu sync.Mutex // guards cancel and done
	cancel context.CancelFunc
	done   chan struct{}
}

var _ KeySource = (*DevKeys)(nil)

// OpenDevKeys reads the switch and the key from storage, creating the key
// when there is none yet: every process sharing the storage then knows it
// before any token is minted. When storage cannot be read (for example
// before another process has migrated it) the switch starts as
// o.Default and Start's polling picks up the stored state later.
func OpenDevKeys(ctx context.Context, o DevKeyOptions) (*DevKeys, error) {
	if o.Settings == nil {
		return nil, errors.New("development tokens: Settings is required")
	}
	d := &DevKeys{settings: o.Settings, def: o.Default, poll: o.PollInterval, log: o.Logger, now: o.Now,
		off: make(chan struct{})}
	if d.poll <= 0 {
		d.poll = DefaultDevPollInterval
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.log = d.log.With("component", "devtokens")
	if d.now == nil {
		d.now = time.Now
	}
	st, found, err := d.readSetting(ctx)
	var unreadable bool
	if err != nil && !errors.Is(err, errBadSetting) {
		d.log.Warn("development tokens: storage not readable yet, starting from client_auth.allow_temporary_tokens", "error", err)
		unreadable = true
	} else if err != nil {
		return nil, err
	}
	switch {
	case unreadable, !found:
		d.enabled = d.def
	case st.Config != d.def:
		// client_auth.allow_temporary_tokens changed since the switch was
		// saved: the config is the newer decision.
		d.enabled = d.def
		if err := d.writeSetting(ctx, d.def); err != nil {
			return nil, err
		}
		d.log.Info("development tokens set from client_auth.allow_temporary_tokens", "enabled", d.def)
	default:
		d.enabled = st.Enabled
	}
	if !d.enabled {
		close(d.off)
	}
	if unreadable {
		return d, nil
	}
	if _, err := d.key(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *DevKeys) readSetting(ctx context.Context) (devSetting, bool, error) {
	var st devSetting
	b, err := d.settings.Get(ctx, devSettingKey)
	if errors.Is(err, storage.ErrNotFound) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read the development tokens setting: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("%w: %v", errBadSetting, err)
	}
	return st, true, nil
}

func (d *DevKeys) writeSetting(ctx context.Context, on bool) error {
	b, _ := json.Marshal(devSetting{Enabled: on, Config: d.def, UpdatedAt: d.now().UTC()})
	if err := d.settings.Put(ctx, devSettingKey, b); err != nil {
		return fmt.Errorf("save the development tokens setting: %w", err)
	}
	return nil
}

// loadKey reads the stored key and makes it current; nil when none exists.
func (d *DevKeys) loadKey(ctx context.Context) (*SigningKey, error) {
	b, err := d.settings.Get(ctx, devSigningKeyKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the instance development key: %w", err)
	}
	sk, err := ParseSigningKey(b, "")
	if err != nil {
		return nil, fmt.Errorf("the stored instance development key is unusable: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.useLocked(sk)
	return sk, nil
}

// useLocked makes sk the signing key and remembers its public half.
func (d *DevKeys) useLocked(sk *SigningKey) {
	d.signer = sk
	for _, k := range d.known {
		if k.KID == sk.KID {
			return
		}
	}
	pub := sk.Public()
	pub.Source = "instance development key"
	pub.Audiences = []string{DevTokenAudience}
	pub.MaxLifetime = DevTokenMaxLifetime
	d.known = append(d.known, pub)
}

// key returns the signing key, creating and storing it on first use.
func (d *DevKeys) key(ctx context.Context) (*SigningKey, error) {
	d.mu.Lock()
	sk := d.signer
	d.mu.Unlock()
	if sk != nil {
		return sk, nil
	}
	d.mintMu.Lock()
	defer d.mintMu.Unlock()
	// Another process may have created it meanwhile.
	if sk, err := d.loadKey(ctx); sk != nil || err != nil {
		return sk, err
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	sk, err := GenerateKey("EdDSA", "powersync-dev-"+hex.EncodeToString(b))
	if err != nil {
		return nil, err
	}
	data, err := sk.MarshalJWK()
	if err != nil {
		return nil, err
	}
	if err := d.settings.Put(ctx, devSigningKeyKey, data); err != nil {
		return nil, fmt.Errorf("store the instance development key: %w", err)
	}
	d.log.Info("created the instance development key", "kid", sk.KID)
	// Read back: if another process stored its key at the same moment, the
	// stored one is what every process will use.
	if stored, err := d.loadKey(ctx); err != nil || stored != nil {
		return stored, err
	}
	return sk, nil
}

// Keys returns the instance's public development keys (KeySource).
func (d *DevKeys) Keys(context.Context) ([]*Key, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.known, nil
}

// Accept rejects tokens of the instance key while the switch is off
// (KeySource).
func (d *DevKeys) Accept(string) error {
	if !d.Enabled() {
		return errDevDisabled
	}
	return nil
}

// Enabled reports whether development tokens are accepted.
func (d *DevKeys) Enabled() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.enabled
}

// KeyID returns the kid of the current key ("" before the first token).
func (d *DevKeys) KeyID() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.signer == nil {
		return ""
	}
	return d.signer.KID
}

// Owns reports whether kid is an instance development key.
func (d *DevKeys) Owns(kid string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range d.known {
		if k.KID == kid {
			return true
		}
	}
	return false
}

// Revoked returns a channel closed when development tokens are turned off
// (already closed while they are off). A sync stream authenticated with a
// development token ends when it closes.
func (d *DevKeys) Revoked() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.off
}

// SetEnabled turns development tokens on or off, stores the switch, and
// applies it at once in this process (others follow within PollInterval).
func (d *DevKeys) SetEnabled(ctx context.Context, on bool) error {
	if err := d.writeSetting(ctx, on); err != nil {
		return err
	}
	d.apply(on)
	return nil
}

// apply switches in memory; turning off closes the revocation channel.
func (d *DevKeys) apply(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.enabled == on {
		return
	}
	d.enabled = on
	if on {
		d.off = make(chan struct{})
	} else {
		close(d.off)
	}
	d.log.Info("development tokens switched", "enabled", on)
}

// DevTokenRequest is what a development token is minted for.
type DevTokenRequest struct {
	// Subject is the user id (sub); required.
	Subject string
	// InstanceURL is the URL clients reach the instance at; it becomes the
	// first audience (clients derive the endpoint from it).
	InstanceURL string
	// Lifetime defaults to DevTokenLifetime; at most DevTokenMaxLifetime.
	Lifetime time.Duration
}

// DevToken is a minted development token.
type DevToken struct {
	Token     string         `json:"token"`
	KeyID     string         `json:"kid"`
	Claims    map[string]any `json:"claims"`
	IssuedAt  time.Time      `json:"issued_at"`
	ExpiresAt time.Time      `json:"expires_at"`
}

// Mint signs a development token with the instance key (created on first
// use). It fails with ErrDevTokensDisabled while the switch is off.
func (d *DevKeys) Mint(ctx context.Context, r DevTokenRequest) (*DevToken, error) {
	if strings.TrimSpace(r.Subject) == "" {
		return nil, fmt.Errorf("%w: the user id (subject) is empty", ErrDevTokenRequest)
	}
	if len(r.Subject) > 1024 {
		return nil, fmt.Errorf("%w: the user id (subject) is longer than 1024 bytes", ErrDevTokenRequest)
	}
	life := r.Lifetime
	if life == 0 {
		life = DevTokenLifetime
	}
	if life < time.Second || life > DevTokenMaxLifetime {
		return nil, fmt.Errorf("%w: the lifetime must be between 1s and %s, got %s", ErrDevTokenRequest, DevTokenMaxLifetime, life)
	}
	if !d.Enabled() {
		return nil, ErrDevTokensDisabled
	}
	sk, err := d.key(ctx)
	if err != nil {
		return nil, err
	}
	auds := []string{DevTokenAudience}
	if r.InstanceURL != "" {
		auds = []string{r.InstanceURL, DevTokenAudience}
	}
	now := d.now().Truncate(time.Second)
	tc := TokenClaims{Subject: r.Subject, Audiences: auds, Issuer: DevTokenIssuer, IssuedAt: now, Lifetime: life}
	claims := tc.Map()
	tok, err := sk.Sign(claims)
	if err != nil {
		return nil, err
	}
	return &DevToken{Token: tok, KeyID: sk.KID, Claims: claims, IssuedAt: now.UTC(), ExpiresAt: now.Add(life).UTC()}, nil
}

// Start follows changes of the switch and key made by other processes
// sharing the storage, every PollInterval, until ctx ends or Close.
func (d *DevKeys) Start(ctx context.Context) {
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	if d.cancel != nil {
		return
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go d.follow(ctx)
}

func (d *DevKeys) follow(ctx context.Context) {
	defer close(d.done)
	t := time.NewTicker(d.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.Refresh(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("re-read development token settings", "error", err)
		}
	}
}

// Refresh re-reads the switch and key from storage.
func (d *DevKeys) Refresh(ctx context.Context) error {
	st, found, err := d.readSetting(ctx)
	if err != nil {
		return err
	}
	if found {
		d.apply(st.Enabled)
	}
	// The stored key wins (another process may have stored one at the
	// same moment as this one); the first key is created if there is none.
	if sk, err := d.loadKey(ctx); err != nil || sk != nil {
		return err
	}
	_, err = d.key(ctx)
	return err
}

// Close stops Start's goroutine and waits for it (at most until ctx is
// done). Safe to call twice.
func (d *DevKeys) Close(ctx context.Context) error {
	d.lifeMu.Lock()
	cancel, done := d.cancel, d.done
	d.lifeMu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("stop following the development-token setting: %w", ctx.Err())
		}
	}
	return nil
}
