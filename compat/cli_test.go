// Package compat_test runs our service and tools against the official
// PowerSync software and independent libraries installed in compat/node
// (pinned in compat/node/package-lock.json; `make test` installs them).
package compat_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/cli"
	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/testenv"
)

// nodeModule returns the path of a package installed in compat/node, or
// ends the test when node or the package is missing.
func nodeModule(t *testing.T, rel string) string {
	t.Helper()
	testenv.LookPath(t, "node")
	p, err := filepath.Abs(filepath.Join("node", "node_modules", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, "compat/node/node_modules/"+rel, "install with `npm ci` in compat/node (make test-deps)")
	}
	return p
}

func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "POWERSYNC_") || strings.HasPrefix(kv, "PS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "API_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// TestOfficialCLITokenAccepted: a development token made by the official
// `powersync` CLI (0.10.0) from a self-hosted project is accepted by our
// verifier configured from the same service.yaml.
func TestOfficialCLITokenAccepted(t *testing.T) {
	bin := nodeModule(t, ".bin/powersync")
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	proj := filepath.Join(dir, "proj")
	for _, d := range []string{home, proj} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := cleanEnv("HOME="+home, "PS_ADMIN_TOKEN=use_a_better_token_in_production", "NO_COLOR=1")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir, cmd.Env = proj, env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("powersync %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}
	run("init", "self-hosted")

	secret := make([]byte, 32)
	rand.Read(secret)
	k := base64.RawURLEncoding.EncodeToString(secret)
	svc := filepath.Join(proj, "powersync", "service.yaml")
	f, err := os.OpenFile(svc, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The CLI validates the whole self-hosted schema, which requires a
	// source and bucket storage; nothing connects to them.
	fmt.Fprintf(f, `
client_auth:
  audience: [powersync-dev]
  jwks:
    keys:
      - kty: oct
        alg: HS256
        kid: dev-key
        k: %s
replication:
  connections:
    - type: postgresql
      uri: postgresql://postgres:postgres@127.0.0.1:5432/postgres
      sslmode: disable
storage:
  type: postgresql
  uri: postgresql://postgres:postgres@127.0.0.1:5432/postgres
  sslmode: disable
`, k)
	f.Close()

	apiURL := "http://127.0.0.1:18092"
	out := run("generate", "token", "--subject", "user-123", "--api-url", apiURL)
	lines := strings.Fields(strings.TrimSpace(out))
	if len(lines) == 0 {
		t.Fatalf("no token printed: %q", out)
	}
	token := lines[len(lines)-1]

	// The CLI's service.yaml (with its `_type: self-hosted` marker) loads
	// unchanged.
	cfg, err := config.Load(config.LoadOptions{Path: svc, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatalf("our config loader on the CLI's service.yaml: %v", err)
	}
	v, err := auth.NewVerifier(auth.OptionsFromServiceConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(context.Background())
	id, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("our verifier rejected the official CLI's token: %v", err)
	}
	if id.UserID != "user-123" || id.KeyID != "dev-key" || id.Algorithm != "HS256" {
		t.Errorf("identity %+v", id)
	}
	if id.Claims["iss"] != "powersync-cli" {
		t.Errorf("iss %v", id.Claims["iss"])
	}
	if life := id.ExpiresAt.Sub(id.IssuedAt); life != 12*time.Hour {
		t.Errorf("lifetime %s, want the CLI's default 12h", life)
	}
	auds, _ := id.Claims["aud"].([]any)
	if len(auds) != 2 || auds[0] != apiURL || auds[1] != "powersync-dev" {
		t.Errorf("aud %v", id.Claims["aud"])
	}
}

// TestOurTokensAcceptedByJose: for every algorithm, the key from `generate
// keys` and the token from `generate token` verify with the jose library.
func TestOurTokensAcceptedByJose(t *testing.T) {
	nodeModule(t, "jose")
	script, err := filepath.Abs(filepath.Join("node", "verify-jwt.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "key")
			entry := runOurs(t, "generate", "keys", "--alg", alg, "--kid", "k-"+alg, "--out", keyFile)
			cfgFile := filepath.Join(dir, "service.yaml")
			writeKeyConfig(t, cfgFile, entry)
			args := []string{"generate", "token", "-c", cfgFile, "--subject", "test-user", "--expires-in", "2h"}
			if alg != "HS256" {
				args = append(args, "--private-key", keyFile)
			}
			token := strings.TrimSpace(runOurs(t, args...))

			data, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			sk, err := auth.ParseSigningKey(data, "")
			if err != nil {
				t.Fatal(err)
			}
			input, _ := json.Marshal(map[string]any{"token": token, "jwk": sk.Public().JWKMap(), "audience": "http://localhost:8080"})
			cmd := exec.Command("node", script)
			cmd.Stdin = bytes.NewReader(input)
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("jose: %v\n%s", err, errOut.String())
			}
			var res struct {
				Header  map[string]any `json:"header"`
				Payload map[string]any `json:"payload"`
			}
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("jose output %q: %v", out.String(), err)
			}
			if res.Payload["sub"] != "test-user" || res.Header["kid"] != "k-"+alg || res.Header["alg"] != alg {
				t.Errorf("jose saw header %v payload %v", res.Header, res.Payload)
			}
			if exp, iat := res.Payload["exp"].(float64), res.Payload["iat"].(float64); exp-iat != 7200 {
				t.Errorf("lifetime %v s, want 7200", exp-iat)
			}
		})
	}
}

func runOurs(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := cli.Main(context.Background(), args, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("powersync %s: exit %d\n%s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String()
}

func writeKeyConfig(t *testing.T, path, entry string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("client_auth:\n  audience: ['http://localhost:8080']\n  jwks:\n    keys:\n")
	for _, line := range strings.Split(strings.TrimRight(entry, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
