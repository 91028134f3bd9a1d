package cli_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/devtest"
)

// TestStartDoesNotServeDevCRUD: the development write endpoint applies any
// user's writes to the source without ownership checks, so only `powersync
// dev` has it. `powersync start` on the same kind of source (SQLite) answers
// 404 to a valid client token, and the row is not written.
func TestStartDoesNotServeDevCRUD(t *testing.T) {
	clearConfigEnv(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "app.db")
	db := sqliteSource(t, dbPath, `CREATE TABLE todos (id TEXT PRIMARY KEY, owner_id TEXT, title TEXT)`)
	cfg := filepath.Join(dir, "service.yaml")
	writeFile(t, cfg, sqliteGlobalConfig)
	code, tok, errOut := runCLI(t, "generate", "token", "-c", cfg, "--subject", "u1", "--audience", "app")
	if code != 0 {
		t.Fatalf("generate token: %d %s", code, errOut)
	}
	inst := devtest.Start(t, cfg, devtest.Options{})

	// The token is good: the sync API takes it.
	req, _ := http.NewRequest(http.MethodGet, inst.Endpoint+"/write-checkpoint2.json?client_id=c", nil)
	req.Header.Set("Authorization", "Token "+strings.TrimSpace(tok))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("write checkpoint with the token: %d", resp.StatusCode)
	}

	req, _ = http.NewRequest(http.MethodPost, inst.Endpoint+"/api/dev/crud",
		strings.NewReader(`{"batch":[{"op":"PUT","type":"todos","id":"x","data":{"owner_id":"someone-else","title":"injected"}}]}`))
	req.Header.Set("Authorization", "Token "+strings.TrimSpace(tok))
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /api/dev/crud on start: %d %s, want 404", resp.StatusCode, body)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM todos`).Scan(&n); err != nil || n != 0 {
		t.Errorf("todos has %d rows (%v) after the refused write", n, err)
	}
}
