package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/powersync-go/powersync/internal/cli"
	"github.com/powersync-go/powersync/internal/devtest"
)

// TestRunReadyOnlyWhenServing: cli.Run reports an instance through Ready
// once it serves, exactly once, and never for a command that fails first
// or that serves nothing.
func TestRunReadyOnlyWhenServing(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "service.yaml")
	if err := os.WriteFile(broken, []byte("replication:\n  connections:\n    - type: sqlite\n      path: missing.db\nport: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{
		{"start", "-c", broken},
		{"start", "-c", filepath.Join(t.TempDir(), "none.yaml")},
		{"dev", "--dir", filepath.Join(t.TempDir(), "d"), "--port", "-1"},
		{"validate", "-c", broken},
		{"generate", "keys", "--alg", "HS256", "--out", filepath.Join(t.TempDir(), "k.jwk.json")},
	} {
		var calls atomic.Int32
		var errOut strings.Builder
		code := cli.Run(context.Background(), args, cli.RunOptions{Stderr: &errOut, Getenv: noEnv,
			Ready: func(cli.Instance) { calls.Add(1) }})
		if n := calls.Load(); n != 0 {
			t.Errorf("%v: exit %d, Ready called %d times for a command that did not serve", args, code, n)
		}
	}

	// dev serves: Ready once, with what the banner prints; cancelling the
	// context ends it with status 0.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := filepath.Join(t.TempDir(), "dev")
	out := &devtest.Log{}
	got := make(chan cli.Instance, 2)
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"dev", "--dir", dir, "--port", "0"}, cli.RunOptions{Stdout: out, Getenv: noEnv,
			Ready: func(i cli.Instance) { got <- i }})
	}()
	var in cli.Instance
	select {
	case in = <-got:
	case code := <-done:
		t.Fatalf("dev exited with %d before serving", code)
	}
	if in.Role != "unified" || in.Dir != dir || in.AdminToken == "" || in.DevToken == "" || !strings.HasPrefix(in.Endpoint, "http://127.0.0.1:") {
		t.Errorf("instance %+v", in)
	}
	for _, want := range []string{"Sync endpoint:      " + in.Endpoint, "Development token:  " + in.DevToken, "Admin token:        " + in.AdminToken} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the banner lacks %q:\n%s", want, out)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("dev exit %d after cancellation", code)
	}
	if len(got) != 0 {
		t.Errorf("Ready called again: %+v", <-got)
	}
}
