package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/protocol"
)

// memSettings is storage.Settings in memory, shared by the DevKeys of
// several simulated processes.
type memSettings struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memSettings) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, fmt.Errorf("setting %q: %w", key, storage.ErrNotFound)
	}
	return append([]byte(nil), v...), nil
}

func (s *memSettings) Put(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[key] = append([]byte(nil), value...)
	return nil
}

func openDev(t *testing.T, st storage.Settings, def bool) *auth.DevKeys {
	t.Helper()
	d, err := auth.OpenDevKeys(context.Background(), auth.DevKeyOptions{Settings: st, Default: def, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return d
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestDevTokensMintVerifyAndSwitch(t *testing.T) {
	ctx := context.Background()
	st := &memSettings{}
	d := openDev(t, st, true)
	// The configured audience does not matter: the instance key has its own.
	v := newVerifier(t, auth.Options{Extra: d, Audiences: []string{"my-app"}, Now: time.Now})

	tok, err := d.Mint(ctx, auth.DevTokenRequest{Subject: "user-7", InstanceURL: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if tok.KeyID == "" || !strings.HasPrefix(tok.KeyID, "powersync-dev-") {
		t.Errorf("kid %q", tok.KeyID)
	}
	if got := tok.ExpiresAt.Sub(tok.IssuedAt); got != 12*time.Hour {
		t.Errorf("lifetime %s, want 12h", got)
	}
	aud, _ := tok.Claims["aud"].([]string)
	if len(aud) == 0 || aud[0] != "http://127.0.0.1:8080" {
		t.Errorf("aud %v: the instance URL must come first", tok.Claims["aud"])
	}
	id, err := v.Verify(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	if id.UserID != "user-7" || id.KeyID != tok.KeyID || !d.Owns(id.KeyID) {
		t.Errorf("identity %+v", id)
	}
	if d.Owns("other-kid") {
		t.Error("Owns(other-kid)")
	}

	revoked := d.Revoked()
	if closed(revoked) {
		t.Fatal("revocation channel closed while enabled")
	}
	if err := d.SetEnabled(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !closed(revoked) {
		t.Error("turning development tokens off did not close the revocation channel")
	}
	// The same (cached) token fails at once, with the message that says why.
	_, err = v.Verify(ctx, tok.Token)
	assertCode(t, err, protocol.CodeAuthGeneric, "Development tokens are disabled for this instance")
	if _, err := d.Mint(ctx, auth.DevTokenRequest{Subject: "x"}); err != auth.ErrDevTokensDisabled {
		t.Errorf("Mint while off: %v", err)
	}

	if err := d.SetEnabled(ctx, true); err != nil {
		t.Fatal(err)
	}
	if closed(d.Revoked()) {
		t.Error("a new revocation channel is expected after turning on")
	}
	if _, err := v.Verify(ctx, tok.Token); err != nil {
		t.Errorf("token after turning on again: %v", err)
	}

	// A token of the same subject signed by a different Ed25519 key with the
	// instance kid fails on the signature.
	forged, _ := auth.GenerateKey("EdDSA", tok.KeyID)
	ft, _ := forged.Sign(tok.Claims)
	_, err = v.Verify(ctx, ft)
	assertCode(t, err, protocol.CodeAuthSignature, "Signature verification failed")
}

func TestDevTokensPersistAndFollowOtherProcess(t *testing.T) {
	ctx := context.Background()
	st := &memSettings{}
	a := openDev(t, st, false)
	if a.Enabled() {
		t.Fatal("the initial value must be client_auth.allow_temporary_tokens (false)")
	}
	if _, err := a.Mint(ctx, auth.DevTokenRequest{Subject: "u"}); err != auth.ErrDevTokensDisabled {
		t.Fatalf("Mint while off: %v", err)
	}
	if err := a.SetEnabled(ctx, true); err != nil {
		t.Fatal(err)
	}
	tok, err := a.Mint(ctx, auth.DevTokenRequest{Subject: "u", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	// Another process on the same storage (same config) sees the saved
	// switch and the same key.
	b := openDev(t, st, false)
	if !b.Enabled() || b.KeyID() != tok.KeyID {
		t.Fatalf("second process: enabled %v kid %q, want true %q", b.Enabled(), b.KeyID(), tok.KeyID)
	}
	vb := newVerifier(t, auth.Options{Extra: b, Now: time.Now})
	if _, err := vb.Verify(ctx, tok.Token); err != nil {
		t.Fatalf("second process rejects the token: %v", err)
	}

	// a turns it off; b follows within its poll interval and ends streams.
	b.Start(ctx)
	rb := b.Revoked()
	if err := a.SetEnabled(ctx, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rb:
	case <-time.After(10 * time.Second):
		t.Fatal("the other process did not follow the switch")
	}
	_, err = vb.Verify(ctx, tok.Token)
	assertCode(t, err, protocol.CodeAuthGeneric, "Development tokens are disabled")

	// A changed client_auth.allow_temporary_tokens overrides the saved
	// switch (the config is the newer decision), and is saved.
	c := openDev(t, st, true)
	if !c.Enabled() {
		t.Error("config changed to true: want enabled")
	}
	d := openDev(t, st, true)
	if !d.Enabled() {
		t.Error("saved switch after the config change: want enabled")
	}
	if err := d.SetEnabled(ctx, false); err != nil {
		t.Fatal(err)
	}
	if e := openDev(t, st, true); e.Enabled() {
		t.Error("config unchanged since the switch was saved off: want disabled")
	}
}

func TestDevTokenMintErrors(t *testing.T) {
	d := openDev(t, &memSettings{}, true)
	for _, r := range []auth.DevTokenRequest{
		{Subject: ""},
		{Subject: "  "},
		{Subject: "u", Lifetime: 25 * time.Hour},
		{Subject: "u", Lifetime: -time.Second},
		{Subject: strings.Repeat("x", 2000)},
	} {
		if _, err := d.Mint(context.Background(), r); err == nil {
			t.Errorf("Mint(%+v) succeeded", r)
		}
	}
	if !strings.HasPrefix(d.KeyID(), "powersync-dev-") {
		t.Errorf("the key is created when the instance opens, got kid %q", d.KeyID())
	}
}

// flakySettings fails every call until ready.
type flakySettings struct {
	memSettings
	ready atomic.Bool
}

func (s *flakySettings) Get(ctx context.Context, key string) ([]byte, error) {
	if !s.ready.Load() {
		return nil, errors.New("relation \"settings\" does not exist")
	}
	return s.memSettings.Get(ctx, key)
}

func (s *flakySettings) Put(ctx context.Context, key string, value []byte) error {
	if !s.ready.Load() {
		return errors.New("relation \"settings\" does not exist")
	}
	return s.memSettings.Put(ctx, key, value)
}

// Storage that is not readable yet (an api process started before the
// storage was migrated) does not stop the instance; the stored state is
// picked up once it is.
func TestDevKeysStorageNotReadyYet(t *testing.T) {
	ctx := context.Background()
	st := &flakySettings{}
	d := openDev(t, st, true)
	if !d.Enabled() || d.KeyID() != "" {
		t.Fatalf("enabled %v kid %q", d.Enabled(), d.KeyID())
	}
	if _, err := d.Mint(ctx, auth.DevTokenRequest{Subject: "u"}); err == nil {
		t.Fatal("minting without storage succeeded")
	}
	st.ready.Store(true)
	other := openDev(t, st, true)
	if err := other.SetEnabled(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Enabled() || d.KeyID() != other.KeyID() {
		t.Fatalf("after refresh: enabled %v kid %q, want false %q", d.Enabled(), d.KeyID(), other.KeyID())
	}
}

func TestDevKeysStoredKeyUnusable(t *testing.T) {
	st := &memSettings{}
	_ = st.Put(context.Background(), "dev_signing_key", []byte("garbage"))
	if _, err := auth.OpenDevKeys(context.Background(), auth.DevKeyOptions{Settings: st}); err == nil ||
		!strings.Contains(err.Error(), "instance development key") {
		t.Fatalf("err %v", err)
	}
}
