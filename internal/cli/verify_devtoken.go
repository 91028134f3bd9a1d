package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/storage/pebble"
	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
)

// Instance development tokens in `verify token`: the instance signs them
// with a key of its own kept in bucket storage (not a client_auth key), and
// accepts them only while its "Development tokens" setting is on. verify
// learns the key and the setting from the running instance's admin API
// (--api-url) or from the config's bucket storage (-c).

// instanceDevKeys is an instance's development key and switch, and where
// they were read.
type instanceDevKeys struct {
	state auth.DevKeyState
	// from is "the admin API of URL" or "bucket storage DIR".
	from string
	// note is said after the setting (what the next start changes).
	note string
}

// errStorageInUse marks a Pebble directory held by a running service.
var errStorageInUse = errors.New("bucket storage is in use by a running service")

// fetchInstanceDevKeys reads the switch and the public development key
// through GET /api/admin/v1/settings.
func fetchInstanceDevKeys(ctx context.Context, apiURL, adminToken string) (*instanceDevKeys, error) {
	if adminToken == "" {
		return nil, errors.New("--api-url needs an admin token: --admin-token (one of api.tokens of the instance's config), or -c with api.tokens")
	}
	base := strings.TrimRight(apiURL, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("--api-url %q is not an http(s) URL", apiURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/admin/v1/settings", nil)
	if err != nil {
		return nil, fmt.Errorf("--api-url: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask the instance at %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("ask the instance at %s: %w", base, err)
	}
	var out struct {
		Data struct {
			DevelopmentTokens *bool          `json:"development_tokens"`
			DevKey            map[string]any `json:"development_key"`
		} `json:"data"`
		Error *struct {
			Code, Description string
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &out)
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		msg := "the admin token was refused"
		if out.Error != nil {
			msg += ": " + out.Error.Description
		}
		return nil, fmt.Errorf("ask the instance at %s: %s", base, msg)
	case resp.StatusCode == http.StatusNotFound && out.Error != nil:
		return nil, fmt.Errorf("ask the instance at %s: %s", base, out.Error.Description)
	case resp.StatusCode != http.StatusOK || out.Data.DevelopmentTokens == nil:
		return nil, fmt.Errorf("ask the instance at %s: GET /api/admin/v1/settings answered %d, not the instance settings (is it a powersync instance?)", base, resp.StatusCode)
	}
	d := &instanceDevKeys{from: "the admin API of " + base}
	d.state.Enabled = *out.Data.DevelopmentTokens
	if out.Data.DevKey != nil {
		k, err := auth.ParseJWK(out.Data.DevKey)
		if err != nil {
			return nil, fmt.Errorf("the instance at %s sent a development key that does not parse: %w", base, err)
		}
		d.state.Key = auth.DevPublicKey(k)
	}
	return d, nil
}

// readInstanceDevKeys reads the switch and the development key from the
// config's bucket storage, without writing anything.
func readInstanceDevKeys(ctx context.Context, cfg *config.Config) (*instanceDevKeys, error) {
	quiet := slog.New(slog.DiscardHandler)
	var st storage.Storage
	var from string
	switch cfg.Storage.Type {
	case config.TypePostgres:
		s, err := pgstorage.Open(ctx, pgstorage.Options{ConnString: cfg.Storage.PostgresURI(), CACert: cfg.Storage.CACert,
			MaxConns: 1, SkipMigrate: true, Logger: quiet})
		if err != nil {
			return nil, fmt.Errorf("open bucket storage: %w", err)
		}
		st, from = s, "Postgres bucket storage ("+withoutPassword(cfg.Storage.PostgresURI())+")"
	default:
		dir := cfg.Storage.Path
		if _, err := os.Stat(dir); err != nil {
			// Opening would create it; a service that never ran has no key.
			return nil, fmt.Errorf("bucket storage %s (storage.path) does not exist: no service has run with this config, so there is no instance development key yet", dir)
		}
		s, err := pebble.Open(ctx, pebble.Options{Dir: dir, Logger: quiet, CacheBytes: 8 << 20})
		if err != nil {
			if strings.Contains(err.Error(), "in use by another process") {
				return nil, fmt.Errorf("%w: %s (storage.path) is a Pebble directory, which only one process can open, and the service holds it. "+
					"Ask the running service instead: powersync verify token --api-url http://127.0.0.1:%d --admin-token <one of api.tokens>",
					errStorageInUse, dir, cfg.Port)
			}
			return nil, err
		}
		st, from = s, "bucket storage "+dir
	}
	defer st.Close(context.WithoutCancel(ctx))
	state, err := auth.ReadDevKeyState(ctx, st.Settings())
	if err != nil {
		return nil, err
	}
	d := &instanceDevKeys{state: *state, from: from}
	cfgValue := cfg.ClientAuth.AllowTemporaryTokens
	switch {
	case !state.Saved:
		// Never saved: the service follows the config.
		d.state.Enabled = cfgValue
		d.note = "never saved; it follows client_auth.allow_temporary_tokens (" + onOff(cfgValue) + ")"
	case state.ConfigValue != cfgValue:
		d.note = fmt.Sprintf("client_auth.allow_temporary_tokens is %s in %s but was %s when the setting was saved: "+
			"a service started with this config turns the setting %s", onOff(cfgValue), cfg.SourceName, onOff(state.ConfigValue), onOff(cfgValue))
	}
	return d, nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// tokenKID is the kid of an unverified token's header.
func tokenKID(tok string) string {
	h, _, err := auth.DecodeUnverified(tok)
	if err != nil {
		return ""
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(h, &hdr)
	return hdr.Kid
}

// explainDevToken says what verify knows about a token that looks like
// an instance development token.
func explainDevToken(w io.Writer, tok string, d *instanceDevKeys) {
	kid := tokenKID(tok)
	fmt.Fprintln(w, "Instance development token:")
	fmt.Fprintln(w, "  The instance minted it (dashboard \"Development tokens\", or POST /api/admin/v1/dev-token) and signed it")
	fmt.Fprintln(w, "  with its own development key, kept in bucket storage; it is not signed with a client_auth key.")
	if d == nil {
		fmt.Fprintln(w, "  To check it, give the instance: --api-url http://HOST:PORT with --admin-token (api.tokens),")
		fmt.Fprintln(w, "  or -c service.yaml of the instance (its bucket storage holds the key).")
		return
	}
	fmt.Fprintf(w, "  read from:          %s\n", d.from)
	switch {
	case d.state.Key == nil:
		fmt.Fprintln(w, "  development key:    none yet (the instance has not created one), so no development token of it exists")
	case kid != d.state.Key.KID:
		fmt.Fprintf(w, "  development key:    %s, but the token was signed with kid %q: another instance minted it,\n", d.state.Key.Describe(), kid)
		fmt.Fprintln(w, "                      or this instance's storage was reset since")
	default:
		fmt.Fprintf(w, "  development key:    %s\n", d.state.Key.Describe())
	}
	if d.state.Enabled {
		fmt.Fprintln(w, "  Development tokens: on (the instance accepts these tokens while the setting is on)")
	} else {
		fmt.Fprintln(w, "  Development tokens: off (the instance rejects these tokens; turn the setting on in the dashboard,")
		fmt.Fprintln(w, "                      /dashboard, or POST /api/admin/v1/settings {\"development_tokens\": true})")
	}
	if d.note != "" {
		fmt.Fprintf(w, "                      %s\n", d.note)
	}
}
