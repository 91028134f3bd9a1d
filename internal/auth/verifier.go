package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/powersync-go/powersync/protocol"
)

// Defaults of Options.
const (
	DefaultMaxLifetime         = 24 * time.Hour
	DefaultClockSkew           = 60 * time.Second
	DefaultCacheSize           = 10000
	DefaultJWKSRefresh         = 5 * time.Minute
	DefaultJWKSMinRefresh      = 10 * time.Second
	DefaultJWKSTimeout         = 30 * time.Second
	SupabaseMaxLifetime        = 7*24*time.Hour + 20*time.Minute
	SupabaseAudience           = "authenticated"
	supabaseSecretSource       = "client_auth.supabase_jwt_secret"
	supabaseJWKSSourcePrefix   = "supabase "
	defaultMaxJWKSResponseSize = 1 << 20
)

// KeySource is a dynamic source of verification keys next to the configured
// ones, e.g. the instance-managed development key: its keys are offered on
// every verification, and a token verified by one of them is accepted only
// if Accept(kid) returns nil. That lets a source keep its key known (so the
// rejection can say why) while refusing tokens, e.g. "development tokens are
// disabled for this instance". Accept is also consulted for cached tokens,
// so switching a source off takes effect at once.
type KeySource interface {
	// Keys returns the source's current keys. It is called on every
	// uncached verification, so it should be cheap (serve from memory).
	Keys(ctx context.Context) ([]*Key, error)
	// Accept is asked after a token's signature verified with the key kid
	// of this source. A non-nil error rejects the token; a *protocol.Error
	// is returned as is, any other error becomes PSYNC_S2101 with its text.
	Accept(kid string) error
}

// Options configure a Verifier. Build them from config with
// OptionsFromConfig; the zero value of each tuning field means its default.
type Options struct {
	// JWKS are the inline keys of client_auth.jwks.keys.
	JWKS []map[string]any
	// JWKSURIs are the client_auth.jwks_uri entries.
	JWKSURIs []string
	// Audiences are client_auth.audience: a token's aud must contain one.
	Audiences []string
	// MaxLifetime bounds exp - iat (client_auth.token_max_expiration).
	MaxLifetime time.Duration
	// ClockSkew is the tolerance on exp, nbf and a future iat.
	ClockSkew time.Duration
	// Supabase enables Supabase keys: SupabaseJWTSecret as a kid-less HS256
	// key and SupabaseJWKSURI, both with audience "authenticated" and a
	// lifetime of up to 7 days + 20 minutes.
	Supabase          bool
	SupabaseJWTSecret string
	// SupabaseJWKSURI is the project's JWKS, see SupabaseJWKSURI().
	SupabaseJWKSURI string
	// BlockLocalJWKS rejects JWKS addresses that are not public unicast,
	// and IPv6 entirely (the reference's deprecated option).
	BlockLocalJWKS bool
	// RejectIPRanges are CIDRs, or "local", that a JWKS URI may not resolve to.
	RejectIPRanges []string
	// Extra is an optional dynamic key source (instance development keys).
	Extra KeySource
	// Logger receives warnings and JWKS refresh errors; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CacheSize bounds the cache of accepted tokens; negative disables it.
	CacheSize int
	// JWKSRefreshInterval is how often Start refreshes JWKS URIs.
	JWKSRefreshInterval time.Duration
	// JWKSMinRefreshInterval rate-limits refreshes triggered by an unknown
	// kid: at most one fetch per URI per interval.
	JWKSMinRefreshInterval time.Duration
	// JWKSTimeout bounds one JWKS request.
	JWKSTimeout time.Duration

	// notes are warnings found while building the options from config.
	notes []string
}

// Identity is who an accepted token says the client is. It is shared by
// every request with the same token (cached): treat it as read-only.
type Identity struct {
	// UserID is sub as text: a string as is, a number in its JSON form.
	UserID string
	// Claims is the whole payload; numbers are json.Number.
	Claims map[string]any
	// RawClaims is the payload JSON as it was signed.
	RawClaims []byte
	// ExpiresAt and IssuedAt are exp and iat.
	ExpiresAt, IssuedAt time.Time
	// KeyID is the kid of the key that verified the token ("" if kid-less).
	KeyID string
	// Algorithm is the token's alg.
	Algorithm string
	// Key describes the verifying key (kid, algorithm, where it came from).
	Key string
}

// Verifier checks tokens against the configured keys. It is safe for
// concurrent use. Start runs the background JWKS refresh; without it JWKS
// URIs are still fetched on demand.
type Verifier struct {
	static    []*Key
	remotes   []*remoteJWKS
	extra     KeySource
	audiences []string
	maxLife   float64 // seconds
	skew      float64 // seconds
	now       func() time.Time
	log       *slog.Logger
	cache     *tokenCache
	warnings  []string
	refresh   time.Duration
	transport io.Closer

	mu      sync.Mutex // guards cancel, done, closed
	cancel  context.CancelFunc
	done    chan struct{}
	started bool
	closed  bool
}

// NewVerifier checks the options (every inline key, URI and IP range; all
// problems are reported together) and returns a Verifier. It logs a warning
// when no audience is configured, since every token would then fail.
func NewVerifier(o Options) (*Verifier, error) {
	v := &Verifier{
		extra:     o.Extra,
		audiences: o.Audiences,
		maxLife:   durOr(o.MaxLifetime, DefaultMaxLifetime).Seconds(),
		skew:      DefaultClockSkew.Seconds(),
		now:       o.Now,
		log:       o.Logger,
		refresh:   durOr(o.JWKSRefreshInterval, DefaultJWKSRefresh),
	}
	if o.ClockSkew > 0 {
		v.skew = o.ClockSkew.Seconds()
	} else if o.ClockSkew < 0 {
		v.skew = 0
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	v.log = v.log.With("component", "auth")
	size := o.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		v.cache = newTokenCache(size)
	}
	var errs []error
	for i, m := range o.JWKS {
		field := fmt.Sprintf("client_auth.jwks.keys[%d]", i)
		k, err := ParseJWK(m)
		if err != nil {
			errs = append(errs, &ConfigError{Code: CodeAuthConfig, Field: field, Msg: err.Error()})
			continue
		}
		k.Source = field
		v.static = append(v.static, k)
	}
	supabaseKeys := false
	if o.Supabase && o.SupabaseJWTSecret != "" {
		v.static = append(v.static, &Key{
			Kty: "oct", Alg: "HS256", secret: []byte(o.SupabaseJWTSecret),
			Audiences: []string{SupabaseAudience}, MaxLifetime: SupabaseMaxLifetime,
			Source: supabaseSecretSource,
		})
		supabaseKeys = true
	}
	policy, err := newIPPolicy(o.RejectIPRanges, o.BlockLocalJWKS)
	if err != nil {
		errs = append(errs, err)
	}
	client, transport := newJWKSClient(policy, durOr(o.JWKSTimeout, DefaultJWKSTimeout))
	v.transport = transport
	minRefresh := durOr(o.JWKSMinRefreshInterval, DefaultJWKSMinRefresh)
	addRemote := func(field, uri string, supabase bool) {
		if err := checkJWKSURI(field, uri, policy); err != nil {
			errs = append(errs, err)
			return
		}
		r := &remoteJWKS{uri: uri, client: client, minInterval: minRefresh, now: v.now, log: v.log, source: uri}
		if supabase {
			r.audiences = []string{SupabaseAudience}
			r.maxLifetime = SupabaseMaxLifetime
			r.source = supabaseJWKSSourcePrefix + uri
		}
		v.remotes = append(v.remotes, r)
	}
	for i, uri := range o.JWKSURIs {
		addRemote(fmt.Sprintf("client_auth.jwks_uri[%d]", i), uri, false)
	}
	if o.Supabase && o.SupabaseJWKSURI != "" {
		addRemote("supabase JWKS", o.SupabaseJWKSURI, true)
		supabaseKeys = true
	}
	if len(errs) > 0 {
		transport.Close()
		return nil, errors.Join(errs...)
	}
	for _, n := range o.notes {
		v.warn(n)
	}
	if o.Supabase && !supabaseKeys {
		v.warn("client_auth.supabase is on, but there is neither a supabase_jwt_secret nor a Supabase connection to take the project's JWKS from")
	}
	if len(v.audiences) == 0 && !supabaseKeys {
		v.warn("client_auth.audience is empty: every token will be rejected with PSYNC_S2105 until an audience is configured")
	}
	if len(v.static) == 0 && len(v.remotes) == 0 && v.extra == nil {
		v.warn("client_auth has no keys (jwks.keys, jwks_uri or supabase): no token can be verified")
	}
	return v, nil
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (v *Verifier) warn(msg string) {
	v.warnings = append(v.warnings, msg)
	v.log.Warn(msg)
}

// Warnings returns the configuration warnings found by NewVerifier.
func (v *Verifier) Warnings() []string { return v.warnings }

// Start fetches every JWKS URI and keeps refreshing them in the background
// until ctx ends or Close is called. It does not wait for the first fetch.
func (v *Verifier) Start(ctx context.Context) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.started || v.closed || len(v.remotes) == 0 {
		return
	}
	v.started = true
	ctx, v.cancel = context.WithCancel(ctx)
	v.done = make(chan struct{})
	go v.refreshLoop(ctx)
}

// refreshLoop refreshes all remotes every interval; after a failed round it
// retries sooner (at the rate limit) so an outage ends quickly.
func (v *Verifier) refreshLoop(ctx context.Context) {
	defer close(v.done)
	for {
		ok := true
		for _, r := range v.remotes {
			if err := r.refresh(ctx, true); err != nil {
				ok = false
			}
		}
		wait := v.refresh
		if !ok {
			wait = min(wait, 3*v.remotes[0].minInterval)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Close stops the background refresh and waits for it (at most until ctx
// is done). Safe to call twice.
func (v *Verifier) Close(ctx context.Context) error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	cancel, done := v.cancel, v.done
	v.mu.Unlock()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("stop the JWKS refresh: %w", ctx.Err())
		}
	}
	return v.transport.Close()
}

// Verify checks a token (the part after "Token "/"Bearer ") and returns the
// identity it carries. A failure is a *protocol.Error (HTTP 401).
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	id, err := v.verify(ctx, token)
	if err != nil {
		return nil, err.Err
	}
	return id, nil
}

// VerifyDetailed is Verify with a failure returned as *Error, which also
// names the failing claim or key.
func (v *Verifier) VerifyDetailed(ctx context.Context, token string) (*Identity, error) {
	id, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	return id, nil
}

func (v *Verifier) verify(ctx context.Context, token string) (*Identity, *Error) {
	if len(token) > MaxTokenSize {
		return nil, newError(protocol.CodeAuthGeneric, "Token is too large: %d bytes (the maximum is %d)", len(token), MaxTokenSize)
	}
	now := v.nowSeconds()
	var sum [32]byte
	if v.cache != nil {
		sum = sha256.Sum256([]byte(token))
		if e, ok := v.cache.get(sum); ok {
			if now >= e.exp+v.skew {
				v.cache.remove(sum)
				return nil, claimError(protocol.CodeAuthExpired, "exp", "JWT has expired (exp %s)", formatUnix(e.exp))
			}
			if e.key.fromExtra {
				if err := v.accept(e.key); err != nil {
					return nil, err
				}
			}
			return e.id, nil
		}
	}
	t, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	key, err := v.findKey(ctx, t)
	if err != nil {
		return nil, err
	}
	id, exp, err := v.checkClaims(t, key, now)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(sum, cacheEntry{id: id, exp: exp, key: key})
	}
	return id, nil
}

func (v *Verifier) nowSeconds() float64 {
	return float64(v.now().UnixNano()) / 1e9
}

func (v *Verifier) accept(k *Key) *Error {
	err := v.extra.Accept(k.KID)
	if err == nil {
		return nil
	}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return &Error{Err: pe, Key: k.Describe()}
	}
	return keyError(protocol.CodeAuthGeneric, k, "%s", err.Error())
}

// keySet is every key known at one moment, with the errors of sources that
// could not deliver theirs.
type keySet struct {
	keys []*Key
	errs []*Error
}

func (s keySet) hasKid(kid string) bool {
	for _, k := range s.keys {
		if k.KID == kid {
			return true
		}
	}
	return false
}

func (v *Verifier) collect(ctx context.Context) keySet {
	var s keySet
	s.keys = append(s.keys, v.static...)
	for _, r := range v.remotes {
		keys, err := r.current(ctx)
		s.keys = append(s.keys, keys...)
		if err != nil {
			s.errs = append(s.errs, err)
		}
	}
	if v.extra != nil {
		keys, err := v.extra.Keys(ctx)
		for _, k := range keys {
			c := *k
			c.fromExtra = true
			if c.Source == "" {
				c.Source = "instance"
			}
			s.keys = append(s.keys, &c)
		}
		if err != nil {
			s.errs = append(s.errs, newError(CodeAuthConfig, "Instance keys are unavailable: %v", err))
		}
	}
	return s
}

// findKey chooses the key for t and verifies the signature with it. A key
// with the token's kid is final: its algorithm must fit and its signature
// must verify. Otherwise every kid-less key that allows the algorithm is
// tried. When nothing matches a kid and there are JWKS URIs, they are
// refreshed once (single-flight, rate-limited) and the search repeated.
func (v *Verifier) findKey(ctx context.Context, t *parsedToken) (*Key, *Error) {
	set := v.collect(ctx)
	k, err, found := v.match(t, set)
	if (!found || err != nil) && t.header.Kid != "" && len(v.remotes) > 0 && !set.hasKid(t.header.Kid) {
		refreshed := false
		for _, r := range v.remotes {
			if r.refreshForUnknownKid(ctx) {
				refreshed = true
			}
		}
		if refreshed {
			set = v.collect(ctx)
			k, err, found = v.match(t, set)
		}
	}
	if found {
		if err == nil && k.fromExtra {
			err = v.accept(k)
		}
		return k, err
	}
	if len(set.errs) > 0 {
		return nil, set.errs[0]
	}
	if t.header.Kid != "" {
		return nil, newError(protocol.CodeAuthGeneric, "Could not find an appropriate key in the keystore. No key has the token's kid %q and no kid-less key accepts %s.", t.header.Kid, t.header.Alg)
	}
	return nil, newError(protocol.CodeAuthGeneric, "Could not find an appropriate key in the keystore. The token has no kid, and no kid-less key accepts %s (keys with a kid only verify tokens that carry it).", t.header.Alg)
}

// match returns found=false when no key is a candidate at all.
func (v *Verifier) match(t *parsedToken, set keySet) (*Key, *Error, bool) {
	if t.header.Kid != "" {
		for _, k := range set.keys {
			if k.KID != t.header.Kid {
				continue
			}
			if !k.Allows(t.header.Alg) {
				return k, keyError(protocol.CodeAuthGeneric, k, "Unexpected token algorithm %s: key %s only accepts %s", t.header.Alg, k.Describe(), allowedAlgs(k)), true
			}
			if !k.verify(t.header.Alg, t.signingInput, t.sig) {
				return k, keyError(protocol.CodeAuthSignature, k, "Signature verification failed with key %s", k.Describe()), true
			}
			return k, nil, true
		}
	}
	var tried []*Key
	for _, k := range set.keys {
		if k.KID != "" || !k.Allows(t.header.Alg) {
			continue
		}
		if k.verify(t.header.Alg, t.signingInput, t.sig) {
			return k, nil, true
		}
		tried = append(tried, k)
	}
	if len(tried) == 1 {
		return tried[0], keyError(protocol.CodeAuthSignature, tried[0], "Signature verification failed with key %s", tried[0].Describe()), true
	}
	if len(tried) > 1 {
		return nil, newError(protocol.CodeAuthSignature, "Signature verification failed: none of the %d kid-less %s keys verifies the token", len(tried), t.header.Alg), true
	}
	return nil, nil, false
}

func allowedAlgs(k *Key) string {
	if k.Alg != "" {
		return k.Alg
	}
	var out []string
	for _, a := range Algorithms {
		if k.Allows(a) {
			out = append(out, a)
		}
	}
	return strings.Join(out, "/")
}

// checkClaims applies the claim rules in a fixed order: sub, iat, exp
// present and well-typed; not expired; nbf and iat not in the future; the
// lifetime; aud; parameters.
func (v *Verifier) checkClaims(t *parsedToken, k *Key, now float64) (*Identity, float64, *Error) {
	claims, err := decodeClaims(t.payload)
	if err != nil {
		return nil, 0, err
	}
	for _, c := range []string{"sub", "iat", "exp"} {
		if _, ok := claims[c]; !ok {
			return nil, 0, claimError(protocol.CodeAuthGeneric, c, "JWT payload is missing a required claim %q", c)
		}
	}
	userID, err := subjectText(claims["sub"])
	if err != nil {
		return nil, 0, err
	}
	iat, err := numericClaim(claims, "iat")
	if err != nil {
		return nil, 0, err
	}
	exp, err := numericClaim(claims, "exp")
	if err != nil {
		return nil, 0, err
	}
	if now >= exp+v.skew {
		return nil, 0, claimError(protocol.CodeAuthExpired, "exp", "JWT has expired (exp %s, %s ago)", formatUnix(exp), fmtSeconds(now-exp))
	}
	if _, ok := claims["nbf"]; ok {
		nbf, err := numericClaim(claims, "nbf")
		if err != nil {
			return nil, 0, err
		}
		if nbf > now+v.skew {
			return nil, 0, claimError(protocol.CodeAuthGeneric, "nbf", "JWT is not valid yet: \"nbf\" is %s in the future", fmtSeconds(nbf-now))
		}
	}
	if iat > now+v.skew {
		return nil, 0, claimError(protocol.CodeAuthGeneric, "iat", "JWT \"iat\" is %s in the future (allowed clock skew: %s)", fmtSeconds(iat-now), fmtSeconds(v.skew))
	}
	if exp < iat {
		return nil, 0, claimError(protocol.CodeAuthGeneric, "exp", "JWT \"exp\" is before \"iat\"")
	}
	maxLife := v.maxLife
	if k.MaxLifetime > 0 {
		maxLife = k.MaxLifetime.Seconds()
	}
	if exp-iat > maxLife {
		return nil, 0, claimError(protocol.CodeAuthLifetime, "exp", "Token must expire in a maximum of %s seconds, got %ss", fmtNum(maxLife), fmtNum(exp-iat))
	}
	allowed := v.audiences
	if k.Audiences != nil {
		allowed = k.Audiences
	}
	if err := checkAudience(claims, allowed); err != nil {
		return nil, 0, err
	}
	if p, ok := claims["parameters"]; ok {
		if _, isObj := p.(map[string]any); !isObj {
			return nil, 0, claimError(protocol.CodeAuthGeneric, "parameters", "Payload parameters must be an object, got %s", jsonType(p))
		}
	}
	id := &Identity{
		UserID:    userID,
		Claims:    claims,
		RawClaims: t.payload,
		ExpiresAt: unixTime(exp),
		IssuedAt:  unixTime(iat),
		KeyID:     k.KID,
		Algorithm: t.header.Alg,
		Key:       k.Describe(),
	}
	return id, exp, nil
}

func subjectText(v any) (string, *Error) {
	switch s := v.(type) {
	case string:
		if s == "" {
			return "", claimError(protocol.CodeAuthGeneric, "sub", "JWT claim \"sub\" is empty")
		}
		return s, nil
	case json.Number:
		return s.String(), nil
	}
	return "", claimError(protocol.CodeAuthGeneric, "sub", "JWT claim \"sub\" must be a string or a number, got %s", jsonType(v))
}

func numericClaim(claims map[string]any, name string) (float64, *Error) {
	n, ok := claims[name].(json.Number)
	if !ok {
		return 0, claimError(protocol.CodeAuthGeneric, name, "JWT claim %q must be a number (seconds since the epoch), got %s", name, jsonType(claims[name]))
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, claimError(protocol.CodeAuthGeneric, name, "JWT claim %q is out of range", name)
	}
	return f, nil
}

func checkAudience(claims map[string]any, allowed []string) *Error {
	raw, ok := claims["aud"]
	if !ok {
		return claimError(protocol.CodeAuthAudience, "aud", "JWT payload is missing a required claim \"aud\"")
	}
	var auds []string
	switch a := raw.(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return claimError(protocol.CodeAuthAudience, "aud", "JWT claim \"aud\" must be a string or an array of strings")
			}
			auds = append(auds, s)
		}
	default:
		return claimError(protocol.CodeAuthAudience, "aud", "JWT claim \"aud\" must be a string or an array of strings, got %s", jsonType(raw))
	}
	for _, a := range auds {
		for _, b := range allowed {
			if a == b {
				return nil
			}
		}
	}
	got, _ := json.Marshal(raw)
	if len(allowed) == 0 {
		return claimError(protocol.CodeAuthAudience, "aud", "Unexpected \"aud\" claim value: %s (no audience is configured in client_auth.audience)", got)
	}
	return claimError(protocol.CodeAuthAudience, "aud", "Unexpected \"aud\" claim value: %s", got)
}

func unixTime(sec float64) time.Time {
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9)).UTC()
}

func formatUnix(sec float64) string {
	if sec > 1e11 || sec < -1e11 {
		return fmtNum(sec)
	}
	return unixTime(sec).Format(time.RFC3339)
}

func fmtNum(f float64) string {
	if math.Abs(f) >= 1e15 {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func fmtSeconds(sec float64) string {
	if sec > 1e11 {
		return fmtNum(math.Round(sec)) + "s"
	}
	return (time.Duration(math.Round(sec)) * time.Second).String()
}

// SupabaseJWKSURI returns the JWKS URI of the Supabase project whose database
// host is hostname (or, when hostname is empty, the host of uri), and false
// when the host is not a Supabase database (db.<project>.supabase.co).
func SupabaseJWKSURI(hostname, uri string) (string, bool) {
	host := hostname
	if host == "" && uri != "" {
		if u, err := url.Parse(uri); err == nil {
			host = u.Hostname()
		}
	}
	project, ok := strings.CutPrefix(host, "db.")
	if !ok {
		return "", false
	}
	project, ok = strings.CutSuffix(project, ".supabase.co")
	if !ok || project == "" || strings.Contains(project, ".") {
		return "", false
	}
	return "https://" + project + ".supabase.co/auth/v1/.well-known/jwks.json", true
}
