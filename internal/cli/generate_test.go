package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/cli"
	"github.com/powersync-go/powersync/internal/testenv"
)

// ps runs the powersync command line in-process with stdin.
func ps(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// keyConfig writes a service.yaml whose client_auth.jwks.keys holds the
// pasted YAML entries, and returns its path.
func keyConfig(t *testing.T, dir string, extra string, entries ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("client_auth:\n  audience: ['http://localhost:8080']\n" + extra + "  jwks:\n    keys:\n")
	for _, e := range entries {
		for _, line := range strings.Split(strings.TrimRight(e, "\n"), "\n") {
			b.WriteString("      " + line + "\n")
		}
	}
	path := filepath.Join(dir, "service.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// For each algorithm: the entry printed by `generate keys`, pasted into a
// config, makes the tokens of `generate token` verify (with the config's
// own HMAC key for HS256, with --private-key for the others).
func TestGenerateKeysThenTokenVerifies(t *testing.T) {
	clearConfigEnvAuth(t)
	for _, tc := range []struct{ alg, format string }{
		{"HS256", ""}, {"RS256", "pem"}, {"ES256", "pem"}, {"EdDSA", "pem"}, {"RS256", "jwk"}, {"ES256", "jwk"}, {"EdDSA", "jwk"}, {"ES384", "pem"}, {"HS512", ""},
	} {
		t.Run(tc.alg+"-"+tc.format, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "private.key")
			args := []string{"generate", "keys", "--alg", tc.alg, "--out", keyFile}
			if tc.format != "" {
				args = append(args, "--format", tc.format)
			}
			code, entry, stderr := ps(t, "", args...)
			if code != 0 {
				t.Fatalf("generate keys: exit %d: %s", code, stderr)
			}
			st, err := os.Stat(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
			}
			cfg := keyConfig(t, dir, "", entry)

			args = []string{"generate", "token", "-c", cfg, "--subject", "test-user"}
			if !strings.HasPrefix(tc.alg, "HS") {
				args = append(args, "--private-key", keyFile)
			}
			code, token, stderr := ps(t, "", args...)
			if code != 0 {
				t.Fatalf("generate token: exit %d: %s", code, stderr)
			}
			if strings.Count(token, "\n") != 1 || strings.Count(token, ".") != 2 {
				t.Fatalf("stdout is not just the token: %q", token)
			}
			if strings.Contains(stderr, "warning") {
				t.Errorf("warnings: %s", stderr)
			}
			token = strings.TrimSpace(token)
			code, report, stderr := ps(t, "", "verify", "token", "-c", cfg, token)
			if code != 0 {
				t.Fatalf("verify token: exit %d\n%s%s", code, report, stderr)
			}
			for _, want := range []string{"ACCEPTED", "user id:   test-user", "(" + tc.alg + ", client_auth.jwks.keys[0])", "left)"} {
				if !strings.Contains(report, want) {
					t.Errorf("report lacks %q:\n%s", want, report)
				}
			}
			_, payload, err := auth.DecodeUnverified(token)
			if err != nil {
				t.Fatal(err)
			}
			var c map[string]any
			json.Unmarshal(payload, &c)
			if c["exp"].(float64)-c["iat"].(float64) != 43200 || c["aud"] != "http://localhost:8080" {
				t.Errorf("claims %v", c)
			}
		})
	}
}

func clearConfigEnvAuth(t *testing.T) {
	for _, k := range []string{"POWERSYNC_CONFIG_PATH", "POWERSYNC_CONFIG_B64"} {
		t.Setenv(k, "")
	}
}

func TestGenerateKeysRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "k.pem")
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := ps(t, "", "generate", "keys", "--alg", "EdDSA", "--out", out)
	if code != 1 || !strings.Contains(stderr, "already exists; pass --force") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatal("the existing file was changed")
	}
	code, _, stderr = ps(t, "", "generate", "keys", "--alg", "EdDSA", "--out", out, "--force")
	if code != 0 {
		t.Fatalf("--force: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); !strings.Contains(string(b), "PRIVATE KEY") {
		t.Fatalf("not replaced: %q", b)
	}
	code, _, stderr = ps(t, "", "generate", "keys", "--alg", "HS256", "--format", "pem", "--out", filepath.Join(dir, "h"))
	if code != 1 || !strings.Contains(stderr, "has no PEM form") {
		t.Fatalf("HS256 as PEM: exit %d: %s", code, stderr)
	}
	code, _, stderr = ps(t, "", "generate", "keys", "--alg", "PS256")
	if code != 1 || !strings.Contains(stderr, `unsupported --alg "PS256"`) {
		t.Fatalf("PS256: exit %d: %s", code, stderr)
	}
}

// --from-pem on keys made by openssl gives the key openssl describes.
func TestGenerateKeysFromPEMMatchesOpenSSL(t *testing.T) {
	openssl := testenv.LookPath(t, "openssl")
	dir := t.TempDir()
	sh := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	rsaKey := filepath.Join(dir, "rsa.pem")
	sh("genrsa", "-out", rsaKey, "2048")
	modulus := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sh("rsa", "-in", rsaKey, "-noout", "-modulus")), "Modulus="))
	pub := filepath.Join(dir, "rsa.pub.pem")
	sh("rsa", "-in", rsaKey, "-pubout", "-out", pub)
	pkcs1 := filepath.Join(dir, "rsa.pkcs1.pem")
	sh("rsa", "-in", rsaKey, "-traditional", "-out", pkcs1)

	for _, file := range []string{rsaKey, pub, pkcs1} {
		code, entry, stderr := ps(t, "", "generate", "keys", "--from-pem", file, "--kid", "from-openssl")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", file, code, stderr)
		}
		n := yamlField(t, entry, "n")
		raw, err := base64.RawURLEncoding.DecodeString(n)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%X", new(big.Int).SetBytes(raw)); got != modulus {
			t.Errorf("%s: modulus\n%s\nopenssl says\n%s", filepath.Base(file), got, modulus)
		}
		if yamlField(t, entry, "e") != "AQAB" || yamlField(t, entry, "alg") != "RS256" || yamlField(t, entry, "kid") != "from-openssl" {
			t.Errorf("entry:\n%s", entry)
		}
	}

	// EC (SEC 1 with an EC PARAMETERS block) and Ed25519 keys.
	ecKey := filepath.Join(dir, "ec.pem")
	sh("ecparam", "-name", "prime256v1", "-genkey", "-out", ecKey)
	edKey := filepath.Join(dir, "ed.pem")
	sh("genpkey", "-algorithm", "ed25519", "-out", edKey)
	for file, alg := range map[string]string{ecKey: "ES256", edKey: "EdDSA"} {
		code, entry, stderr := ps(t, "", "generate", "keys", "--from-pem", file, "--kid", "k")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", file, code, stderr)
		}
		if yamlField(t, entry, "alg") != alg {
			t.Errorf("%s entry:\n%s", alg, entry)
		}
		// The same PEM signs tokens that the pasted entry verifies.
		cfg := keyConfig(t, t.TempDir(), "", entry)
		code, token, stderr := ps(t, "", "generate", "token", "-c", cfg, "--subject", "u", "--private-key", file)
		if code != 0 {
			t.Fatalf("token with %s: exit %d: %s", alg, code, stderr)
		}
		if code, out, _ := ps(t, "", "verify", "token", "-c", cfg, strings.TrimSpace(token)); code != 0 {
			t.Errorf("%s token rejected:\n%s", alg, out)
		}
	}
}

func yamlField(t *testing.T, entry, name string) string {
	t.Helper()
	for _, line := range strings.Split(entry, "\n") {
		line = strings.TrimPrefix(strings.TrimPrefix(line, "- "), "  ")
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return strings.Trim(v, "'")
		}
	}
	t.Fatalf("no %s in entry:\n%s", name, entry)
	return ""
}

func TestGenerateTokenOptions(t *testing.T) {
	clearConfigEnvAuth(t)
	dir := t.TempDir()
	hs := "- kty: oct\n  alg: HS256\n  kid: first\n  k: " + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) + "\n"
	hs2 := "- kty: oct\n  alg: HS384\n  kid: second\n  k: " + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{2}, 48)) + "\n"
	cfg := keyConfig(t, dir, "  token_max_expiration: 2h\n", hs, hs2)

	code, out, stderr := ps(t, "", "generate", "token", "-c", cfg, "--subject", "u1", "--kid", "second", "--expires-in", "90m",
		"--api-url", "http://127.0.0.1:8080", "--json", "--parameters", `{"team":"a"}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Token  string         `json:"token"`
		Header map[string]any `json:"header"`
		Claims map[string]any `json:"claims"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if res.Header["kid"] != "second" || res.Header["alg"] != "HS384" {
		t.Errorf("header %v", res.Header)
	}
	aud, _ := res.Claims["aud"].([]any)
	if len(aud) != 2 || aud[0] != "http://127.0.0.1:8080" || aud[1] != "http://localhost:8080" {
		t.Errorf("aud %v: want --api-url then the configured audiences", res.Claims["aud"])
	}
	if res.Claims["exp"].(float64)-res.Claims["iat"].(float64) != 5400 || res.Claims["sub"] != "u1" {
		t.Errorf("claims %v", res.Claims)
	}
	if p, _ := res.Claims["parameters"].(map[string]any); p["team"] != "a" {
		t.Errorf("parameters %v", res.Claims["parameters"])
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--subject", "u", "--expires-in", "3h"}, "a lifetime of 3h0m0s is above the maximum of 2h0m0s"},
		{[]string{"--subject", "u", "--expires-in-seconds", "7201"}, "a lifetime of 2h0m1s is above the maximum"},
		{[]string{"--subject", "u", "--kid", "nope", "--expires-in", "1h"}, `no key found with kid "nope"`},
		{[]string{"--expires-in", "1h"}, "--subject is required"},
		{[]string{"--subject", "u", "--expires-in-seconds", "0"}, "the lifetime must be positive"},
		{[]string{"--subject", "u", "--parameters", "[1]", "--expires-in", "1h"}, "--parameters must be a JSON object"},
		{[]string{"--subject", "u", "--private-key", filepath.Join(dir, "missing.pem"), "--expires-in", "1h"}, "no such file"},
	} {
		code, _, stderr := ps(t, "", append([]string{"generate", "token", "-c", cfg}, tc.args...)...)
		if code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}

	// Without a lifetime flag the 12 h default is lowered to the maximum.
	code, out, stderr = ps(t, "", "generate", "token", "-c", cfg, "--subject", "u", "--json")
	if code != 0 || !strings.Contains(stderr, "using 2h0m0s") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	json.Unmarshal([]byte(out), &res)
	if res.Claims["exp"].(float64)-res.Claims["iat"].(float64) != 7200 || res.Header["kid"] != "first" {
		t.Errorf("header %v claims %v", res.Header, res.Claims)
	}

	// A config without an HMAC key explains what to do.
	ed, err := auth.GenerateKey("EdDSA", "ed")
	if err != nil {
		t.Fatal(err)
	}
	edEntry := fmt.Sprintf("- kty: OKP\n  crv: Ed25519\n  alg: EdDSA\n  kid: ed\n  x: %s\n", ed.Public().JWKMap()["x"])
	noHS := keyConfig(t, t.TempDir(), "", edEntry)
	code, _, stderr = ps(t, "", "generate", "token", "-c", noHS, "--subject", "u")
	if code != 1 || !strings.Contains(stderr, "has no HMAC key to sign with") || !strings.Contains(stderr, "--private-key FILE") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	code, _, stderr = ps(t, "", "generate", "token", "-c", noHS, "--subject", "u", "--kid", "ed")
	if code != 1 || !strings.Contains(stderr, `key kid "ed" (EdDSA, client_auth.jwks.keys[0]) is a public OKP key`) {
		t.Errorf("exit %d: %s", code, stderr)
	}
}

// Config discovery: ./powersync/service.yaml is found without -c; without any
// config, --private-key still works with an explicit audience.
func TestGenerateTokenDiscovery(t *testing.T) {
	clearConfigEnvAuth(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "powersync"), 0o755); err != nil {
		t.Fatal(err)
	}
	hs := "- kty: oct\n  alg: HS256\n  kid: disc\n  k: " + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)) + "\n"
	keyConfig(t, filepath.Join(dir, "powersync"), "", hs)
	t.Chdir(dir)
	code, token, stderr := ps(t, "", "generate", "token", "--subject", "test-user")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	h, _, _ := auth.DecodeUnverified(strings.TrimSpace(token))
	if !strings.Contains(string(h), `"kid":"disc"`) {
		t.Errorf("header %s", h)
	}
	// verify token reads the token from stdin and discovers the same config.
	code, report, _ := ps(t, "Token "+token, "verify", "token")
	if code != 0 || !strings.Contains(report, "ACCEPTED") {
		t.Errorf("exit %d:\n%s", code, report)
	}

	empty := t.TempDir()
	t.Chdir(empty)
	code, _, stderr = ps(t, "", "generate", "token", "--subject", "u")
	if code != 1 || !strings.Contains(stderr, "no config found") {
		t.Errorf("no config: exit %d: %s", code, stderr)
	}
	sk := filepath.Join(empty, "k.json")
	if code, _, stderr := ps(t, "", "generate", "keys", "--alg", "ES256", "--kid", "solo", "--format", "jwk", "--out", sk); code != 0 {
		t.Fatal(stderr)
	}
	code, token, stderr = ps(t, "", "generate", "token", "--subject", "u", "--private-key", sk, "--audience", "x")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	h, p, _ := auth.DecodeUnverified(strings.TrimSpace(token))
	if !strings.Contains(string(h), `"kid":"solo"`) || !strings.Contains(string(p), `"aud":"x"`) {
		t.Errorf("header %s payload %s", h, p)
	}
	code, _, stderr = ps(t, "", "generate", "token", "--subject", "u", "--private-key", sk)
	if code != 1 || !strings.Contains(stderr, "the token needs an audience") {
		t.Errorf("no audience: exit %d: %s", code, stderr)
	}
}

func TestVerifyTokenReports(t *testing.T) {
	clearConfigEnvAuth(t)
	dir := t.TempDir()
	secret := bytes.Repeat([]byte{9}, 32)
	hs := "- kty: oct\n  alg: HS256\n  kid: v1\n  k: " + base64.RawURLEncoding.EncodeToString(secret) + "\n"
	cfg := keyConfig(t, dir, "", hs)
	sk, err := auth.ParseSigningKey([]byte(fmt.Sprintf(`{"kty":"oct","alg":"HS256","kid":"v1","k":%q}`, base64.RawURLEncoding.EncodeToString(secret))), "")
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := sk.Sign(map[string]any{"sub": "u", "aud": "http://localhost:8080", "iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()})
	code, out, _ := ps(t, "", "verify", "token", "-c", cfg, expired)
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"REJECTED: PSYNC_S2103 JWT has expired", "failing claim: exp", `"sub": "u"`, "exp: ", " ago)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	other, _ := auth.GenerateKey("HS256", "v1")
	forged, _ := other.Sign(map[string]any{"sub": "u", "aud": "http://localhost:8080", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	code, out, _ = ps(t, "", "verify", "token", "-c", cfg, forged)
	if code != 1 || !strings.Contains(out, "REJECTED: PSYNC_S2102 Signature verification failed") || !strings.Contains(out, `key:           kid "v1" (HS256, client_auth.jwks.keys[0])`) {
		t.Errorf("exit %d:\n%s", code, out)
	}

	// Without a config: decoded, and plainly not verified.
	t.Chdir(t.TempDir())
	code, out, _ = ps(t, forged, "verify", "token", "-")
	if code != 2 || !strings.HasPrefix(out, "NOT VERIFIED") || !strings.Contains(out, `"kid": "v1"`) {
		t.Errorf("exit %d:\n%s", code, out)
	}
	code, out, _ = ps(t, "", "verify", "token", "garbage")
	if code != 2 || !strings.Contains(out, "cannot even be decoded") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}
