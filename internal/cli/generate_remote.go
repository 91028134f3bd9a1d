package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/protocol"
)

// The --api-url path of `generate token`: a running instance mints the
// token with its development key (POST /api/admin/v1/dev-token).

// useInstanceMinter decides whether the instance at --api-url signs the
// token: with --admin-token always; with $PS_ADMIN_TOKEN only when there is
// no local HMAC key to sign with (the reference CLI needs PS_ADMIN_TOKEN
// for linking even when it signs locally, so its presence alone does not
// change what a config with a shared secret does). It resolves
// f.adminToken.
func useInstanceMinter(e *env, cmd *cobra.Command, f *tokenFlags, cf *configFlags) (bool, error) {
	explicit := cmd.Flags().Changed("admin-token")
	if !explicit {
		f.adminToken = e.getenv("PS_ADMIN_TOKEN")
	}
	switch {
	case explicit && f.adminToken == "":
		return false, errors.New("--admin-token is empty")
	case explicit && f.apiURL == "":
		return false, errors.New("--admin-token needs --api-url: the address of the instance that mints the token")
	case f.apiURL == "" || f.adminToken == "":
		return false, nil
	}
	local := []string{"private-key", "kid", "alg"}
	remoteOff := []string{"audience", "issuer", "parameters"}
	for _, name := range local {
		if cmd.Flags().Changed(name) {
			if explicit {
				return false, fmt.Errorf("--%s selects a local key; it cannot be combined with --admin-token, which has the instance sign", name)
			}
			return false, nil
		}
	}
	if !explicit {
		cfg, err := cf.load(e, true)
		if err == nil && cfg != nil {
			for _, m := range cfg.ClientAuth.JWKS.Keys {
				if m["kty"] == "oct" {
					return false, nil // sign locally, as the reference CLI does
				}
			}
		}
	}
	for _, name := range remoteOff {
		if cmd.Flags().Changed(name) {
			return false, fmt.Errorf("--%s applies to locally signed tokens; the instance sets aud, iss and claims of its development tokens", name)
		}
	}
	return true, nil
}

// mintRemote asks the instance at --api-url for a development token.
func mintRemote(ctx context.Context, e *env, req tokenRequest) (*mintedToken, error) {
	f := req.flags
	base, err := url.Parse(strings.TrimSuffix(f.apiURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--api-url %q is not an http(s) URL", f.apiURL)
	}
	body, _ := json.Marshal(map[string]any{
		"user_id":            f.subject,
		"expires_in_seconds": int64(req.lifetime / time.Second),
	})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/api/admin/v1/dev-token", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+f.adminToken)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("ask %s for a development token: %w", base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer of %s: %w", base, err)
	}
	var out struct {
		Data *struct {
			Token     string    `json:"token"`
			KeyID     string    `json:"kid"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"data"`
		Error *protocol.Error `json:"error"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || (out.Data == nil && out.Error == nil) {
		return nil, fmt.Errorf("%s answered %s with something that is not the admin API's JSON (is it a PowerSync instance?)", base, resp.Status)
	}
	if out.Error != nil {
		hint := ""
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			hint = " (check the admin token: one of api.tokens in the instance's config)"
		case resp.StatusCode == http.StatusNotFound:
			hint = " (this instance does not mint development tokens)"
		}
		return nil, fmt.Errorf("the instance refused: %s%s", out.Error.Error(), hint)
	}
	t := &mintedToken{Token: out.Data.Token, Expires: out.Data.ExpiresAt.UTC(),
		KeyNote: fmt.Sprintf("the development key %q of %s", out.Data.KeyID, base)}
	h, p, err := auth.DecodeUnverified(t.Token)
	if err != nil {
		return nil, fmt.Errorf("the instance returned a malformed token: %w", err)
	}
	_ = json.Unmarshal(h, &t.Header)
	_ = json.Unmarshal(p, &t.Claims)
	return t, nil
}
