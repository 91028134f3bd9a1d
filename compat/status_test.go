package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/devtest"
)

// TestOfficialCLIStatus: the official CLI's (0.10.0) `powersync status
// --api-url` reads our admin API's diagnostics, `generate schema` its
// schema route, and a wrong admin token is refused.
func TestOfficialCLIStatus(t *testing.T) {
	bin := nodeModule(t, ".bin/powersync")
	dev := devtest.Dev(t, devtest.Options{})
	devDir, endpoint, adminToken := dev.Dir, dev.Endpoint, dev.AdminToken
	dir := t.TempDir()
	home, proj := filepath.Join(dir, "home"), filepath.Join(dir, "proj")
	for _, d := range []string{home, proj} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	run := func(token string, args ...string) (string, string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Dir = proj
		cmd.Env = cleanEnv("HOME="+home, "NO_COLOR=1", "PS_ADMIN_TOKEN="+token)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	// The CLI wants a project folder, even for --api-url.
	if out, errOut, err := run(adminToken, "init", "self-hosted"); err != nil {
		t.Fatalf("powersync init self-hosted: %v\n%s\n%s", err, out, errOut)
	}

	out, errOut, err := run(adminToken, "status", "--api-url", endpoint)
	if err != nil {
		t.Fatalf("powersync status: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	for _, want := range []string{
		"═══ Connections ═══", "• default", "Status: connected",
		"═══ Active Sync Config ═══", "Initial replication done: true", "Last checkpoint:",
		"lists (replication_id: id)", "used_for_replication: yes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("powersync status output lacks %q:\n%s", want, out)
		}
	}

	out, errOut, err = run(adminToken, "status", "--api-url", endpoint, "--output", "json")
	if err != nil {
		t.Fatalf("powersync status --output json: %v\n%s", err, errOut)
	}
	var diag struct {
		Connections []struct {
			ID        string `json:"id"`
			Connected bool   `json:"connected"`
		} `json:"connections"`
		ActiveSyncRules struct {
			Connections []struct {
				SlotName               string `json:"slot_name"`
				InitialReplicationDone bool   `json:"initial_replication_done"`
				Tables                 []struct {
					Name string `json:"name"`
				} `json:"tables"`
			} `json:"connections"`
			Errors []any `json:"errors"`
		} `json:"active_sync_rules"`
	}
	if err := json.Unmarshal([]byte(out), &diag); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	if len(diag.Connections) != 1 || !diag.Connections[0].Connected || len(diag.ActiveSyncRules.Connections) != 1 ||
		diag.ActiveSyncRules.Connections[0].SlotName == "" || len(diag.ActiveSyncRules.Connections[0].Tables) != 3 ||
		len(diag.ActiveSyncRules.Errors) != 0 {
		t.Errorf("status JSON: %s", out)
	}

	// generate schema reads the admin schema route (with the project's
	// sync config, here the dev instance's).
	devSync, err := os.ReadFile(filepath.Join(devDir, "sync-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "powersync", "sync-config.yaml"), devSync, 0o644); err != nil {
		t.Fatal(err)
	}
	schemaPath := filepath.Join(dir, "schema.ts")
	if out, errOut, err := run(adminToken, "generate", "schema", "--output=ts", "--output-path="+schemaPath, "--api-url", endpoint); err != nil {
		t.Fatalf("powersync generate schema: %v\n%s\n%s", err, out, errOut)
	}
	ts, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"const todos = new Table(", "completed: column.integer", "owner_id: column.text", "const announcements"} {
		if !strings.Contains(string(ts), want) {
			t.Errorf("generated schema lacks %q:\n%s", want, ts)
		}
	}

	// A wrong admin token is refused.
	out, errOut, err = run("not-the-admin-token", "status", "--api-url", endpoint)
	if err == nil || !strings.Contains(out+errOut, "Failed to fetch instance diagnostics") {
		t.Errorf("status with a wrong admin token: err %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
}
