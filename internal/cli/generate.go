package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/config"
	"github.com/spf13/cobra"
)

func newGenerateCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate signing keys and development tokens",
	}
	cmd.AddCommand(newGenerateKeysCmd(e), newGenerateTokenCmd(e))
	return cmd
}

// ---- generate keys ----

type keysFlags struct {
	alg, kid, out, format, fromPEM string
	force                          bool
}

func newGenerateKeysCmd(e *env) *cobra.Command {
	f := &keysFlags{}
	cmd := &cobra.Command{
		Use:   "keys [--alg RS256|ES256|EdDSA|HS256] [--kid K] [--out FILE] [--format pem|jwk]",
		Short: "Create a signing key and print its client_auth.jwks.keys entry",
		Long: `keys creates a key for signing client tokens: RSA 2048 (RS256, the default),
P-256 (ES256), Ed25519 (EdDSA) or 32 random bytes (HS256). The private key is
written to --out with mode 0600 (an existing file is only replaced with
--force); standard output gets the public key as a YAML entry to paste under
client_auth.jwks.keys in service.yaml. For HS256 that entry is the shared
secret itself: keep it out of version control.

--from-pem FILE prints the entry for an existing PEM key (private or public:
RSA, EC or Ed25519) instead, like openssl + pem-jwk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.fromPEM != "" {
				for _, name := range []string{"out", "format", "force"} {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s cannot be used with --from-pem (it writes no file)", name)
					}
				}
				return runKeysFromPEM(e, f, cmd.Flags().Changed("alg"))
			}
			return runGenerateKeys(e, f, cmd.Flags().Changed("format"))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.alg, "alg", "RS256", "algorithm: RS256, ES256, EdDSA or HS256 (also RS384/RS512, ES384/ES512, HS384/HS512)")
	fs.StringVar(&f.kid, "kid", "", "key id (default: powersync-<random hex>)")
	fs.StringVar(&f.out, "out", "", "private key file (default: <kid>.pem, or <kid>.jwk.json for --format jwk)")
	fs.StringVar(&f.format, "format", "pem", "private key file format: pem (PKCS#8) or jwk (JSON); HS* keys are always jwk")
	fs.BoolVar(&f.force, "force", false, "overwrite an existing --out file")
	fs.StringVar(&f.fromPEM, "from-pem", "", "print the public JWK entry of an existing PEM key instead of generating one")
	return cmd
}

func randomKID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "powersync-" + hex.EncodeToString(b)
}

func runGenerateKeys(e *env, f *keysFlags, formatSet bool) error {
	if !slices.Contains(auth.Algorithms, f.alg) {
		return fmt.Errorf("unsupported --alg %q (use RS256, ES256, EdDSA or HS256)", f.alg)
	}
	hmacKey := strings.HasPrefix(f.alg, "HS")
	switch {
	case f.format != "pem" && f.format != "jwk":
		return fmt.Errorf("unknown --format %q (pem or jwk)", f.format)
	case hmacKey && formatSet && f.format == "pem":
		return fmt.Errorf("an %s secret has no PEM form; use --format jwk", f.alg)
	case hmacKey:
		f.format = "jwk"
	}
	kid := f.kid
	if kid == "" {
		kid = randomKID()
	}
	out := f.out
	if out == "" {
		out = kid + ".pem"
		if f.format == "jwk" {
			out = kid + ".jwk.json"
		}
	}
	if !f.force {
		if _, err := os.Lstat(out); err == nil {
			return fmt.Errorf("%s already exists; pass --force to overwrite it, or choose another --out", out)
		}
	}
	sk, err := auth.GenerateKey(f.alg, kid)
	if err != nil {
		return err
	}
	var data []byte
	if f.format == "pem" {
		data, err = sk.MarshalPEM()
	} else {
		data, err = sk.MarshalJWK()
		data = append(data, '\n')
	}
	if err != nil {
		return err
	}
	if err := writePrivateFile(out, data); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Wrote the %s private key to %s (mode 0600).\n", f.alg, out)
	if hmacKey {
		fmt.Fprintln(e.stderr, "This entry holds the shared secret (k): keep service.yaml private, or use !env PS_... for k.")
	}
	fmt.Fprintln(e.stderr, "Paste this entry under client_auth.jwks.keys in service.yaml:")
	fmt.Fprint(e.stdout, jwkYAML(sk.Public()))
	return nil
}

func runKeysFromPEM(e *env, f *keysFlags, algSet bool) error {
	data, err := os.ReadFile(f.fromPEM)
	if err != nil {
		return err
	}
	k, err := auth.ParsePublicPEM(data)
	if err != nil {
		return fmt.Errorf("%s: %w", f.fromPEM, err)
	}
	if algSet {
		if !k.Allows(f.alg) {
			return fmt.Errorf("--alg %s does not fit this %s key", f.alg, k.Kty)
		}
		k.Alg = f.alg
	}
	k.KID = f.kid
	if k.KID == "" {
		k.KID = randomKID()
	}
	fmt.Fprint(e.stdout, jwkYAML(k))
	return nil
}

// jwkYAML renders a key as one YAML list entry with quoted values.
func jwkYAML(k *auth.Key) string {
	var b strings.Builder
	for i, f := range k.PublicJWK() {
		prefix := "  "
		if i == 0 {
			prefix = "- "
		}
		fmt.Fprintf(&b, "%s%s: '%s'\n", prefix, f.Name, strings.ReplaceAll(f.Value, "'", "''"))
	}
	return b.String()
}

// writePrivateFile writes data to path with mode 0600 through a temporary
// file in the same directory, so a crash never leaves a partial key.
func writePrivateFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".powersync-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ---- generate token ----

type tokenFlags struct {
	subject, kid, privateKey, alg, apiURL, issuer, params string
	adminToken                                            string
	audiences                                             []string
	expiresInSeconds                                      int64
	expiresIn                                             time.Duration
	json                                                  bool
}

func newGenerateTokenCmd(e *env) *cobra.Command {
	f := &tokenFlags{}
	cmd := &cobra.Command{
		Use:   "token --subject USER [-c service.yaml] [--kid K | --private-key FILE]",
		Short: "Sign a development token for a user",
		Long: `token signs a JWT for sync clients (a development token) and prints only the
token, for use in scripts; --json prints the header and claims too.

The key is the HS256/HS384/HS512 key of client_auth.jwks.keys (the first, or
the one named by --kid), or --private-key FILE: a PEM or JWK private key for
RS*, ES* or EdDSA, such as the file 'powersync generate keys' wrote. Its kid
comes from --kid, the JWK, or the matching public key in the config.

The config is found as the service finds it (-c, $POWERSYNC_CONFIG_PATH,
./powersync/service.yaml, ./service.yaml). The audience is --api-url (as
the reference CLI sets it) plus client_auth.audience plus any --audience.
A lifetime above client_auth.token_max_expiration (default 24h) is refused,
since the service would reject the token.

With --api-url and an admin token (--admin-token, or $PS_ADMIN_TOKEN when
the config has no HMAC key to sign with), the running instance mints the
token with its own development key instead: this works when the config
holds only public keys. The instance's "Development tokens" setting must be
on (the dashboard, or client_auth.allow_temporary_tokens).`,
		Args: cobra.NoArgs,
	}
	cf := addConfigFlags(cmd)
	fs := cmd.Flags()
	fs.StringVar(&f.subject, "subject", "", "user id (the sub claim); required")
	fs.StringVar(&f.kid, "kid", "", "kid of the config key to sign with, or the kid to put in the header with --private-key")
	fs.StringVar(&f.privateKey, "private-key", "", "sign with this private key file (PEM or JWK) instead of a config HMAC key")
	fs.StringVar(&f.alg, "alg", "", "algorithm for --private-key when the key allows several (e.g. RS384)")
	fs.Int64Var(&f.expiresInSeconds, "expires-in-seconds", 43200, "lifetime in seconds")
	fs.DurationVar(&f.expiresIn, "expires-in", 0, "lifetime as a duration, e.g. 2h or 30m (instead of --expires-in-seconds)")
	fs.StringVar(&f.apiURL, "api-url", "", "URL of the PowerSync service, added as an audience")
	fs.StringArrayVar(&f.audiences, "audience", nil, "extra audience (repeatable)")
	fs.StringVar(&f.issuer, "issuer", "powersync", "the iss claim")
	fs.StringVar(&f.params, "parameters", "", `JSON object for the "parameters" claim (token_parameters in sync rules)`)
	fs.BoolVar(&f.json, "json", false, "print a JSON object with the token, header and claims")
	fs.StringVar(&f.adminToken, "admin-token", "", "admin API token of the instance at --api-url (default $PS_ADMIN_TOKEN): ask it to mint the token")
	cmd.MarkFlagsMutuallyExclusive("expires-in", "expires-in-seconds")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if f.subject == "" {
			return errors.New("--subject is required: the user id the token is for (e.g. --subject=test-user)")
		}
		lifetime := time.Duration(f.expiresInSeconds) * time.Second
		if cmd.Flags().Changed("expires-in") {
			lifetime = f.expiresIn
		}
		if lifetime <= 0 {
			return fmt.Errorf("the lifetime must be positive, got %s", lifetime)
		}
		if remote, err := useInstanceMinter(e, cmd, f, cf); err != nil {
			return err
		} else if remote {
			tok, err := mintRemote(cmd.Context(), e, tokenRequest{flags: f, lifetime: lifetime})
			if err != nil {
				return err
			}
			return printToken(e, f, tok)
		}
		cfg, err := loadOptionalConfig(e, cf)
		if err != nil {
			return err
		}
		explicit := cmd.Flags().Changed("expires-in") || cmd.Flags().Changed("expires-in-seconds")
		if max := maxLifetime(cfg); !explicit && lifetime > max {
			fmt.Fprintf(e.stderr, "The default lifetime of %s is above client_auth.token_max_expiration; using %s.\n", lifetime, max)
			lifetime = max
		}
		req := tokenRequest{flags: f, lifetime: lifetime, cfg: cfg}
		tok, err := mintLocal(cmd.Context(), e, req)
		if err != nil {
			return err
		}
		return printToken(e, f, tok)
	}
	return cmd
}

// loadOptionalConfig loads the config the flags or environment name, or
// discovers one; nil (no error) when there is none.
func loadOptionalConfig(e *env, cf *configFlags) (*config.Config, error) {
	cfg, err := cf.load(e, true)
	if errors.Is(err, config.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprint(e.stderr, ce.Format())
			return nil, &ExitError{Code: 1, Msg: "the config has errors (see above)"}
		}
		return nil, err
	}
	return cfg, nil
}

// tokenRequest is what a token is asked for. mintLocal signs it here; a
// second minter — asking a running instance (--api-url with its admin
// token) to sign with the instance development key — plugs in beside it.
type tokenRequest struct {
	flags    *tokenFlags
	lifetime time.Duration
	cfg      *config.Config
}

// mintedToken is a signed token and what it says.
type mintedToken struct {
	Token   string         `json:"token"`
	Header  map[string]any `json:"header"`
	Claims  map[string]any `json:"claims"`
	Expires time.Time      `json:"expires_at"`
	// KeyNote says which key signed it (for stderr).
	KeyNote string `json:"-"`
}

func mintLocal(_ context.Context, e *env, req tokenRequest) (*mintedToken, error) {
	f, cfg := req.flags, req.cfg
	maxLife := maxLifetime(cfg)
	if req.lifetime > maxLife {
		return nil, fmt.Errorf("a lifetime of %s is above the maximum of %s (client_auth.token_max_expiration); the service would reject the token with PSYNC_S2104", req.lifetime, maxLife)
	}
	var configKeys []*auth.Key
	if cfg != nil {
		for i, m := range cfg.ClientAuth.JWKS.Keys {
			k, err := auth.ParseJWK(m)
			if err != nil {
				return nil, fmt.Errorf("client_auth.jwks.keys[%d]: %w", i, err)
			}
			k.Source = fmt.Sprintf("client_auth.jwks.keys[%d]", i)
			configKeys = append(configKeys, k)
		}
	}
	var sk *auth.SigningKey
	var known *auth.Key // the config key the token will verify with
	var err error
	if f.privateKey != "" {
		sk, known, err = privateKeySigner(e, f, cfg, configKeys)
	} else {
		sk, known, err = configSigner(f, cfg, configKeys)
	}
	if err != nil {
		return nil, err
	}

	var auds []string
	add := func(a string) {
		if a != "" && !slices.Contains(auds, a) {
			auds = append(auds, a)
		}
	}
	add(f.apiURL)
	if cfg != nil {
		for _, a := range cfg.ClientAuth.Audience {
			add(a)
		}
	}
	for _, a := range f.audiences {
		add(a)
	}
	if len(auds) == 0 {
		return nil, errors.New("the token needs an audience: pass --api-url URL or --audience A, or set client_auth.audience in the config")
	}
	tc := auth.TokenClaims{Subject: f.subject, Audiences: auds, Issuer: f.issuer, IssuedAt: time.Now(), Lifetime: req.lifetime}
	if f.params != "" {
		if err := json.Unmarshal([]byte(f.params), &tc.Parameters); err != nil || tc.Parameters == nil {
			return nil, fmt.Errorf("--parameters must be a JSON object, e.g. '{\"team\":\"a\"}'")
		}
	}
	claims := tc.Map()
	tok, err := sk.Sign(claims)
	if err != nil {
		return nil, err
	}
	h, p, _ := auth.DecodeUnverified(tok)
	out := &mintedToken{Token: tok, Expires: tc.IssuedAt.Add(req.lifetime).UTC().Truncate(time.Second)}
	_ = json.Unmarshal(h, &out.Header)
	_ = json.Unmarshal(p, &out.Claims)
	out.KeyNote = fmt.Sprintf("%s key %q", sk.Alg, sk.KID)
	if known != nil {
		out.KeyNote = known.Describe()
		// Check the token the way the service will (static keys only).
		o := auth.OptionsFromConfig(cfg.ClientAuth)
		o.JWKSURIs = nil
		if v, err := auth.NewVerifier(o); err == nil {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				fmt.Fprintf(e.stderr, "warning: the service with this config would reject the token: %v\n", err)
			}
			_ = v.Close(context.Background())
		}
	}
	return out, nil
}

// maxLifetime is the longest token lifetime the config's service accepts.
func maxLifetime(cfg *config.Config) time.Duration {
	if cfg != nil && cfg.ClientAuth.TokenMaxExpiration > 0 {
		return cfg.ClientAuth.TokenMaxExpiration
	}
	return auth.DefaultMaxLifetime
}

// configSigner picks the config's HMAC key: the one with --kid, or the first.
func configSigner(f *tokenFlags, cfg *config.Config, keys []*auth.Key) (*auth.SigningKey, *auth.Key, error) {
	if cfg == nil {
		return nil, nil, errors.New("no config found (tried -c, $POWERSYNC_CONFIG_PATH, ./powersync/service.yaml, ./service.yaml, ./powersync.yaml); pass -c FILE, or sign with --private-key FILE")
	}
	for _, k := range keys {
		if f.kid != "" && k.KID != f.kid {
			continue
		}
		if k.Kty != "oct" {
			if f.kid != "" {
				return nil, nil, fmt.Errorf("key %s is a public %s key: pass its private key with --private-key FILE", k.Describe(), k.Kty)
			}
			continue
		}
		sk, err := auth.NewHMACKey(k)
		return sk, k, err
	}
	if f.kid != "" {
		return nil, nil, fmt.Errorf("no key found with kid %q in client_auth.jwks.keys of %s", f.kid, cfg.SourceName)
	}
	return nil, nil, fmt.Errorf(`%s has no HMAC key to sign with. Either sign with a private key
(--private-key FILE; 'powersync generate keys' makes one), or add a shared secret:

client_auth:
  jwks:
    keys:
      - kty: oct
        alg: HS256
        kid: dev-key-1
        k: <base64url secret, e.g. from 'powersync generate keys --alg HS256'>`, cfg.SourceName)
}

// privateKeySigner reads --private-key and finds its public half in the
// config, which supplies the kid when neither --kid nor the JWK has one.
func privateKeySigner(e *env, f *tokenFlags, cfg *config.Config, keys []*auth.Key) (*auth.SigningKey, *auth.Key, error) {
	data, err := os.ReadFile(f.privateKey)
	if err != nil {
		return nil, nil, err
	}
	sk, err := auth.ParseSigningKey(data, f.alg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.privateKey, err)
	}
	if f.kid != "" {
		sk.KID = f.kid
	}
	var known *auth.Key
	for _, k := range keys {
		if !sk.Matches(k) || (sk.KID != "" && k.KID != "" && k.KID != sk.KID) {
			continue
		}
		known = k
		if sk.KID == "" {
			sk.KID = k.KID
		}
		if f.alg == "" && k.Alg != "" && k.Alg != sk.Alg {
			sk.Alg = k.Alg
		}
		break
	}
	if cfg != nil && known == nil {
		fmt.Fprintf(e.stderr, "warning: the public half of %s (kid %q) is not in client_auth.jwks.keys of %s; the service will only accept the token if it gets the key elsewhere (jwks_uri)\n", f.privateKey, sk.KID, cfg.SourceName)
	}
	return sk, known, nil
}

func printToken(e *env, f *tokenFlags, t *mintedToken) error {
	if f.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(t)
	}
	fmt.Fprintln(e.stdout, t.Token)
	fmt.Fprintf(e.stderr, "Token for %q signed with %s, expires %s.\n", f.subject, t.KeyNote, t.Expires.Format(time.RFC3339))
	return nil
}
