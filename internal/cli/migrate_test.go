package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/pgtest"
)

func TestMigrateUp(t *testing.T) {
	clearConfigEnv(t)
	c := pgtest.Private(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "service.yaml")
	yaml := "replication:\n  connections:\n    - type: postgresql\n      uri: " + c.URL("postgres") +
		"\nstorage:\n  type: postgresql\n  uri: " + c.URL("postgres") +
		"\nsync_config:\n  content: |\n    bucket_definitions:\n      global:\n        data:\n          - SELECT * FROM todos\n" +
		"client_auth:\n  jwks:\n    keys:\n      - kty: oct\n        alg: HS256\n        kid: k1\n        k: c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "migrate", "up", "-c", cfg)
	if code != 0 || !strings.Contains(stdout, "applied 1 migration(s)") {
		t.Fatalf("first run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "migrate", "up", "-c", cfg)
	if code != 0 || !strings.Contains(stdout, "applied 0 migration(s)") {
		t.Fatalf("second run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}
