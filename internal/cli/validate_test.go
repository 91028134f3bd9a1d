package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/cli"
)

// runCLI runs the powersync command line in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli.Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// clearConfigEnv makes sure the test's environment names no config.
func clearConfigEnv(t *testing.T) {
	for _, k := range []string{"POWERSYNC_CONFIG_PATH", "POWERSYNC_CONFIG_B64", "POWERSYNC_SYNC_CONFIG_B64",
		"POWERSYNC_SYNC_RULES_B64", "PS_LOG_LEVEL", "PS_LOG_FORMAT"} {
		t.Setenv(k, "")
	}
}

func TestValidateExampleConfig(t *testing.T) {
	clearConfigEnv(t)
	// The example names ./source.db, which a user creates: copy the example
	// beside an empty database (SQLite takes an empty file as a new one).
	dir := t.TempDir()
	for _, name := range []string{"service.yaml", "sync-config.yaml"} {
		b, err := os.ReadFile(filepath.Join("../../docs/examples", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "source.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, stdout, stderr := runCLI(t, "validate", "-c", "service.yaml")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	want := "OK: service.yaml (sqlite source, pebble storage, port 8080, 1 key, sync config sync-config.yaml)\n"
	if stdout != want || stderr != "" {
		t.Errorf("stdout %q (want %q), stderr %q", stdout, want, stderr)
	}
}

func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodConfig = `replication:
  connections:
    - type: sqlite
      path: src.db
client_auth:
  audience: [a]
  jwks_uri: https://example.com/jwks
sync_config:
  content: |
    bucket_definitions: {}
`

func TestValidate(t *testing.T) {
	clearConfigEnv(t)
	dir := writeConfig(t, map[string]string{
		"good.yaml":    goodConfig,
		"src.db":       "",
		"a.db":         "",
		"warn.yaml":    goodConfig + "api:\n  tokens: [abc]\n",
		"bad.yaml":     "port: 99999\nstorage:\n  type: mongo\nclient_auth:\n  audiance: [x]\n",
		"nosync.yaml":  "replication: {connections: [{type: sqlite, path: a.db}]}\nclient_auth: {audience: [a], jwks_uri: 'https://x/jwks'}\n",
		"service.json": `{"port": 1234, "sync_config": {"content": "bucket_definitions: {}"}}`,
	})
	cases := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdout     []string // substrings
		stderr     []string
		noStderrOf []string
	}{
		{name: "good", args: []string{"-c", filepath.Join(dir, "good.yaml")}, code: 0,
			stdout: []string{"OK: ", "good.yaml (sqlite source, pebble storage, port 8080, 0 keys, 1 JWKS URL, inline sync config)\n"}},
		{name: "config-path alias", args: []string{"--config-path", filepath.Join(dir, "good.yaml")}, code: 0, stdout: []string{"OK: "}},
		{name: "warnings only", args: []string{"-c", filepath.Join(dir, "warn.yaml")}, code: 0,
			stdout: []string{"), 1 warning\n"},
			stderr: []string{"warn.yaml:12:12: warning: api.tokens[0]: admin API token is only 3 characters", " 12 |   tokens: [abc]\n    |            ^\n"}},
		{name: "errors", args: []string{"-c", filepath.Join(dir, "bad.yaml")}, code: 1,
			stderr: []string{
				"bad.yaml:1:7: error: port: must be between 0 and 65535, got 99999\n 1 | port: 99999\n   |       ^\n",
				`bad.yaml:3:9: error: storage.type: expected one of "pebble", "postgresql", got "mongo"`,
				`bad.yaml:5:3: error: unknown key "audiance" in client_auth; did you mean "audience"?`,
				"bad.yaml: 3 errors, 2 warnings\n",
			}},
		{name: "no sync config", args: []string{"-c", filepath.Join(dir, "nosync.yaml")}, code: 1,
			stderr: []string{"nosync.yaml: error: no sync config: set sync_config.path", "nosync.yaml: 1 error, 0 warnings\n"}},
		{name: "json via env path", env: map[string]string{"POWERSYNC_CONFIG_PATH": filepath.Join(dir, "service.json")}, code: 0,
			stdout: []string{"service.json (no source, pebble storage, port 1234, 0 keys, inline sync config), 2 warnings\n"}},
		{name: "base64 flag", args: []string{"--config-base64", base64.StdEncoding.EncodeToString([]byte(
			strings.Replace(goodConfig, "src.db", filepath.Join(dir, "src.db"), 1)))}, code: 0,
			stdout: []string{"OK: --config-base64 (sqlite source"}},
		{name: "base64 env", env: map[string]string{"POWERSYNC_CONFIG_B64": base64.StdEncoding.EncodeToString([]byte("port: x\n"))}, code: 1,
			stderr: []string{"POWERSYNC_CONFIG_B64:1:7: error: port: expected a whole number, got \"x\"\n 1 | port: x\n"}},
		{name: "missing file", args: []string{"-c", filepath.Join(dir, "nope.yaml")}, code: 1,
			stderr: []string{"nope.yaml: error: cannot read the config: no such file or directory\n"}},
		{name: "extra argument", args: []string{"extra"}, code: 1, stderr: []string{`unknown command "extra"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := runCLI(t, append([]string{"validate"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout does not contain %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, stderr)
				}
			}
		})
	}
}

func TestValidateDiscovery(t *testing.T) {
	clearConfigEnv(t)
	dir := writeConfig(t, map[string]string{"service.yaml": goodConfig, "src.db": "", "powersync.yaml": "port: nope\n"})
	t.Chdir(dir)
	code, stdout, stderr := runCLI(t, "validate")
	if code != 0 || !strings.HasPrefix(stdout, "OK: service.yaml (") {
		t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	t.Chdir(t.TempDir())
	code, _, stderr = runCLI(t, "validate")
	if code != 1 || !strings.Contains(stderr, "no config found: pass -c FILE") {
		t.Errorf("exit %d, stderr: %s", code, stderr)
	}
}
