package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/spf13/cobra"
)

// Exit status of `verify token` when there was no config to verify with.
const exitNotVerified = 2

func newVerifyCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check client tokens against a service config",
	}
	cmd.AddCommand(newVerifyTokenCmd(e))
	return cmd
}

func newVerifyTokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token [-c service.yaml] [--api-url URL --admin-token T] [TOKEN | -]",
		Short: "Say whether the service would accept a token, and why",
		Long: `token checks a JWT exactly as the service does with the config's client_auth
(keys, jwks_uri, audiences, lifetime) and prints the result. The token is the
argument, or standard input when it is missing or "-"; a leading "Token " or
"Bearer " is ignored.

Instance development tokens (minted by the dashboard or
/api/admin/v1/dev-token) are signed with the instance's own key, kept in
bucket storage, and accepted only while its "Development tokens" setting is
on. To check one, give the instance: --api-url with an admin token (the key
and the setting are read through the admin API), or -c with the instance's
config (they are read from its bucket storage; a Pebble directory cannot be
read while the service runs, use --api-url then).

Exit status: 0 when the token is accepted (the claims, the key that verified
it and the time left are printed); 1 when it is rejected (the PSYNC code, the
message and the failing claim or key are printed); 2 when neither a config
nor an instance was given, in which case the token is only decoded and
nothing is verified.`,
		Example: `  powersync verify token -c service.yaml "$TOKEN"
  powersync verify token --api-url http://127.0.0.1:8080 --admin-token "$ADMIN_TOKEN" "$TOKEN"`,
		Args: cobra.MaximumNArgs(1),
	}
	cf := addConfigFlags(cmd)
	var apiURL, adminToken string
	cmd.Flags().StringVar(&apiURL, "api-url", "", "URL of a running instance, to check its development tokens through the admin API")
	cmd.Flags().StringVar(&adminToken, "admin-token", "", "admin API token for --api-url (default: the first of api.tokens in the config)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		tok, err := readToken(e, args)
		if err != nil {
			return err
		}
		cfg, err := loadOptionalConfig(e, cf)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 40*time.Second)
		defer cancel()
		devLike := auth.LooksLikeDevToken(tok)
		var dev *instanceDevKeys
		switch {
		case apiURL != "":
			if adminToken == "" && cfg != nil && len(cfg.API.Tokens) > 0 {
				adminToken = cfg.API.Tokens[0]
			}
			if dev, err = fetchInstanceDevKeys(ctx, apiURL, adminToken); err != nil {
				return err
			}
		case cfg != nil && devLike:
			if dev, err = readInstanceDevKeys(ctx, cfg); err != nil {
				fmt.Fprintf(e.stderr, "warning: the instance development key was not read: %v\n", err)
			}
		}
		if cfg == nil && dev == nil {
			return decodeOnly(e, tok)
		}
		var o auth.Options
		by := "the instance at " + apiURL
		if cfg != nil {
			o = auth.OptionsFromServiceConfig(cfg)
			by = "the client_auth of " + cfg.SourceName
		}
		o.Logger = slog.New(slog.DiscardHandler)
		if dev != nil {
			o.Extra = &auth.FixedDevKeys{State: dev.state}
		}
		v, err := auth.NewVerifier(o)
		if err != nil {
			if cfg == nil {
				return err
			}
			return fmt.Errorf("client_auth of %s: %w", cfg.SourceName, err)
		}
		defer v.Close(context.Background())
		if cfg != nil {
			for _, w := range v.Warnings() {
				fmt.Fprintf(e.stderr, "warning: %s\n", w)
			}
		}
		id, err := v.VerifyDetailed(ctx, tok)
		if err != nil {
			var ae *auth.Error
			if !errors.As(err, &ae) {
				return err
			}
			printRejection(e.stdout, tok, ae)
			if devLike || dev != nil && dev.state.Key != nil && tokenKID(tok) == dev.state.Key.KID {
				explainDevToken(e.stdout, tok, dev)
			}
			return &ExitError{Code: 1}
		}
		if dev != nil && dev.state.Key != nil && id.KeyID == dev.state.Key.KID {
			by = "the instance development key (" + dev.from + ")"
		}
		printAccepted(e.stdout, by, id)
		if devLike || dev != nil && dev.state.Key != nil && id.KeyID == dev.state.Key.KID {
			explainDevToken(e.stdout, tok, dev)
		}
		return nil
	}
	return cmd
}

func readToken(e *env, args []string) (string, error) {
	var tok string
	if len(args) == 1 && args[0] != "-" {
		tok = args[0]
	} else {
		data, err := io.ReadAll(io.LimitReader(e.stdin, auth.MaxTokenSize+1024))
		if err != nil {
			return "", fmt.Errorf("reading the token from standard input: %w", err)
		}
		tok = string(data)
	}
	tok = strings.TrimSpace(tok)
	if t, ok := strings.CutPrefix(tok, "Token "); ok {
		tok = strings.TrimSpace(t)
	} else if t, ok := strings.CutPrefix(tok, "Bearer "); ok {
		tok = strings.TrimSpace(t)
	}
	if tok == "" {
		return "", errors.New("no token: pass it as the argument or on standard input")
	}
	return tok, nil
}

func decodeOnly(e *env, tok string) error {
	fmt.Fprintln(e.stdout, "NOT VERIFIED: no config found (-c, $POWERSYNC_CONFIG_PATH, ./powersync/service.yaml, ./service.yaml, ./powersync.yaml),")
	fmt.Fprintln(e.stdout, "so no signature, key, audience or lifetime was checked. Decoded contents:")
	h, p, err := auth.DecodeUnverified(tok)
	if err != nil {
		fmt.Fprintf(e.stdout, "  the token cannot even be decoded: %v\n", err)
		return &ExitError{Code: exitNotVerified}
	}
	printJSON(e.stdout, "header", h)
	printJSON(e.stdout, "claims", p)
	printTimes(e.stdout, p)
	if auth.LooksLikeDevToken(tok) {
		explainDevToken(e.stdout, tok, nil)
	}
	return &ExitError{Code: exitNotVerified}
}

// printAccepted prints an accepted token; by names what accepted it ("the
// client_auth of service.yaml").
func printAccepted(w io.Writer, by string, id *auth.Identity) {
	fmt.Fprintf(w, "ACCEPTED by %s\n", by)
	fmt.Fprintf(w, "  user id:   %s\n", id.UserID)
	fmt.Fprintf(w, "  key:       %s\n", id.Key)
	fmt.Fprintf(w, "  issued:    %s\n", id.IssuedAt.Format(time.RFC3339))
	left := time.Until(id.ExpiresAt).Round(time.Second)
	fmt.Fprintf(w, "  expires:   %s (%s left)\n", id.ExpiresAt.Format(time.RFC3339), left)
	printJSON(w, "claims", id.RawClaims)
}

func printRejection(w io.Writer, tok string, ae *auth.Error) {
	fmt.Fprintf(w, "REJECTED: %s %s\n", ae.Err.Code, ae.Err.Description)
	if ae.Claim != "" {
		fmt.Fprintf(w, "  failing claim: %s\n", ae.Claim)
	}
	if ae.Key != "" {
		fmt.Fprintf(w, "  key:           %s\n", ae.Key)
	}
	if h, p, err := auth.DecodeUnverified(tok); err == nil {
		fmt.Fprintln(w, "Decoded contents (unverified):")
		printJSON(w, "header", h)
		printJSON(w, "claims", p)
		printTimes(w, p)
	}
}

func printJSON(w io.Writer, label string, raw []byte) {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "  ", "  "); err != nil {
		fmt.Fprintf(w, "%s: %s\n", label, raw)
		return
	}
	fmt.Fprintf(w, "%s:\n  %s\n", label, buf.String())
}

// printTimes shows iat, nbf and exp of an unverified payload as dates.
func printTimes(w io.Writer, payload []byte) {
	var c map[string]any
	if json.Unmarshal(payload, &c) != nil {
		return
	}
	for _, name := range []string{"iat", "nbf", "exp"} {
		if f, ok := c[name].(float64); ok && f > -1e11 && f < 1e11 {
			t := time.Unix(int64(f), 0).UTC()
			fmt.Fprintf(w, "  %s: %s (%s)\n", name, t.Format(time.RFC3339), relative(time.Until(t)))
		}
	}
}

func relative(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		return (-d).String() + " ago"
	}
	return "in " + d.String()
}
