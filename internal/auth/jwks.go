package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// remoteJWKS is the cached key set of one jwks_uri.
//
// Keys are fetched on first use and then by the Verifier's background loop.
// A token whose kid matches no key triggers a refresh before it is answered;
// concurrent refreshes share one request (single flight) and at most one
// request starts per minInterval, so a flood of unknown kids cannot turn
// into a flood of fetches. A failed or malformed fetch keeps the last good
// keys.
type remoteJWKS struct {
	uri         string
	source      string
	client      *http.Client
	minInterval time.Duration
	now         func() time.Time
	log         *slog.Logger
	audiences   []string
	maxLifetime time.Duration

	mu          sync.Mutex // guards the fields below
	keys        []*Key
	fetched     bool      // a fetch has succeeded
	lastAttempt time.Time // start of the last fetch
	lastErr     *Error    // error of the last fetch, nil after a success
	inflight    *fetchCall
}

type fetchCall struct {
	done chan struct{}
	err  *Error
}

// current returns the cached keys and the last fetch error. Before the first
// successful fetch it fetches (or joins a running fetch), unless the last
// attempt failed less than minInterval ago.
func (r *remoteJWKS) current(ctx context.Context) ([]*Key, *Error) {
	r.mu.Lock()
	need := !r.fetched && (r.inflight != nil || r.lastAttempt.IsZero() || r.now().Sub(r.lastAttempt) >= r.minInterval)
	r.mu.Unlock()
	if need {
		r.run(ctx, false)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys, r.lastErr
}

// refreshForUnknownKid refreshes unless rate-limited, and reports whether a
// fetch ran (so the caller should look again).
func (r *remoteJWKS) refreshForUnknownKid(ctx context.Context) bool {
	ran, _ := r.run(ctx, false)
	return ran
}

// refresh fetches now (joining a running fetch), ignoring the rate limit;
// it is what the background loop calls.
func (r *remoteJWKS) refresh(ctx context.Context, force bool) error {
	_, err := r.run(ctx, force)
	if err != nil {
		return err
	}
	return nil
}

// run starts a fetch or joins the one in flight. Without force it does
// nothing when the last fetch started less than minInterval ago.
func (r *remoteJWKS) run(ctx context.Context, force bool) (bool, *Error) {
	r.mu.Lock()
	if c := r.inflight; c != nil {
		r.mu.Unlock()
		select {
		case <-c.done:
			return true, c.err
		case <-ctx.Done():
			return false, newError(CodeJWKSFailed, "JWKS request failed: %s: %v", r.uri, ctx.Err())
		}
	}
	now := r.now()
	if !force && !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.minInterval {
		r.mu.Unlock()
		return false, nil
	}
	c := &fetchCall{done: make(chan struct{})}
	r.inflight = c
	r.lastAttempt = now
	r.mu.Unlock()

	// The fetch is shared by every waiter, so one caller giving up must not
	// cancel it; the client's timeout bounds it.
	keys, err := r.fetch(context.WithoutCancel(ctx))

	r.mu.Lock()
	if err == nil {
		r.keys, r.fetched, r.lastErr = keys, true, nil
	} else {
		r.lastErr = err
		r.log.Warn("JWKS refresh failed; keeping the last good keys", "uri", r.uri, "keys", len(r.keys), "error", err.Err.Description)
	}
	c.err = err
	r.inflight = nil
	r.mu.Unlock()
	close(c.done)
	return true, err
}

func (r *remoteJWKS) fetch(ctx context.Context) ([]*Key, *Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.uri, nil)
	if err != nil {
		return nil, newError(CodeJWKSFailed, "JWKS request failed: %s: %v", r.uri, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		var blocked *Error
		if errors.As(err, &blocked) {
			return nil, newError(CodeJWKSFailed, "JWKS request failed: %s: %s", r.uri, blocked.Err.Error())
		}
		return nil, newError(CodeJWKSFailed, "JWKS request failed: %s: %v", r.uri, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newError(CodeJWKSFailed, "JWKS request failed: %s: HTTP %d", r.uri, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, defaultMaxJWKSResponseSize+1))
	if err != nil {
		return nil, newError(CodeJWKSFailed, "JWKS request failed: %s: reading the body: %v", r.uri, err)
	}
	if len(body) > defaultMaxJWKSResponseSize {
		return nil, newError(CodeJWKSFailed, "Invalid JWKS response from %s: larger than %d bytes", r.uri, defaultMaxJWKSResponseSize)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Keys == nil {
		return nil, newError(CodeJWKSFailed, "Invalid JWKS response from %s: expected a JSON object with a \"keys\" array", r.uri)
	}
	var keys []*Key
	for i, raw := range doc.Keys {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			return nil, newError(CodeJWKSFailed, "Invalid JWKS response from %s: keys[%d] is not an object", r.uri, i)
		}
		k, err := parseJWK(m, jwkRemote)
		if errors.Is(err, errSkipKey) || errors.Is(err, errUnsupportedKey) {
			r.log.Debug("ignoring JWKS key", "uri", r.uri, "index", i, "reason", err.Error())
			continue
		}
		if err != nil {
			return nil, newError(CodeJWKSFailed, "Invalid JWKS response from %s: keys[%d]: %v", r.uri, i, err)
		}
		k.Source = r.source
		k.Audiences = r.audiences
		k.MaxLifetime = r.maxLifetime
		keys = append(keys, k)
	}
	return keys, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// newJWKSClient returns the HTTP client for JWKS requests. Every connection
// is checked against policy after DNS resolution, at dial time.
func newJWKSClient(policy *ipPolicy, timeout time.Duration) (*http.Client, io.Closer) {
	if policy == nil {
		policy = &ipPolicy{}
	}
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("unexpected dial address %q", address)
			}
			if e := policy.check(ip); e != nil {
				return e
			}
			return nil
		},
	}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	if policy.empty() {
		// A proxy would be the address checked, so proxies are only used
		// when no address is rejected.
		tr.Proxy = http.ProxyFromEnvironment
	}
	return &http.Client{Transport: tr, Timeout: timeout}, transportCloser{tr}
}

type transportCloser struct{ tr *http.Transport }

func (c transportCloser) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// checkJWKSURI validates a jwks_uri at startup: it must parse, be http(s),
// and an IP literal host must pass the policy.
func checkJWKSURI(field, uri string, policy *ipPolicy) error {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" {
		detail := "no host"
		if err != nil {
			detail = err.Error()
		}
		return &ConfigError{Code: CodeInvalidJWKSURI, Field: field, Msg: fmt.Sprintf("Invalid jwks_uri: %q Details: %s", uri, detail)}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return &ConfigError{Code: CodeJWKSURIScheme, Field: field, Msg: fmt.Sprintf("Only http(s) is supported for jwks_uri, got: %q", uri)}
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && policy != nil {
		if e := policy.check(ip); e != nil {
			return &ConfigError{Code: e.Err.Code, Field: field, Msg: e.Err.Description}
		}
	}
	return nil
}
