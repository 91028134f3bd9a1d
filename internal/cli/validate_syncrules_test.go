package cli_test

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files")

// TestValidateSyncRulesGolden runs `validate --sync-rules` on the broken
// example configs of internal/syncrules/testdata/validate and compares
// the output (exit code, stdout, stderr) with the .golden files.
func TestValidateSyncRulesGolden(t *testing.T) {
	clearConfigEnv(t)
	files, err := filepath.Glob("../syncrules/testdata/validate/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test configs: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "validate", "--sync-rules", file)
			got := "exit " + strconv.Itoa(code) + "\n--- stdout\n" + stdout + "--- stderr\n" + stderr
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s:\n%s", golden, got)
			}
		})
	}
}

func TestValidateInlineSyncConfigPositions(t *testing.T) {
	clearConfigEnv(t)
	dir := t.TempDir()
	cfg := `replication:
  connections:
    - type: sqlite
      path: source.db
client_auth:
  jwks:
    keys:
      - kty: oct
        alg: HS256
        kid: k
        k: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA
sync_config:
  content: |
    bucket_definitions:
      global:
        data:
          - SELECT nope(1) AS id FROM todos
`
	path := filepath.Join(dir, "service.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "validate", "-c", path)
	if code != 1 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	want := path + ":17:20: error: Function 'nope' is not defined\n 17 |           - SELECT nope(1) AS id FROM todos\n    |                    ^\n"
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr:\n%s\nwant it to contain:\n%s", stderr, want)
	}
}
