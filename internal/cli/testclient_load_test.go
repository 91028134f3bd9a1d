//go:build !race

package cli_test

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
)

// TestConcurrentConnections1000 runs `test-client concurrent-connections
// -n 1000` against an in-process `powersync dev` to completion. It is left
// out of -race builds: the race detector's goroutine limit is below what
// 1000 clients and their 1000 server streams need in one process.
func TestConcurrentConnections1000(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 connections; skipped with -short")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 2500 {
		t.Skipf("needs 2500 open files (client and server side of 1000 connections); the limit is %d", lim.Cur)
	}
	clearConfigEnv(t)
	dir, endpoint := inProcessDev(t)
	tok := devTokenFor(t, dir, "test-user")
	code, out, errOut := runCLI(t, "test-client", "concurrent-connections", "-n", "1000", "--token", tok, "--endpoint", endpoint, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var sum struct {
		Completed int              `json:"completed_first_checkpoint"`
		Ops       int64            `json:"ops"`
		Errors    map[string]int64 `json:"errors"`
		First     map[string]int64 `json:"first_checkpoint_ms"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if sum.Completed != 1000 || sum.Ops != 9000 || len(sum.Errors) != 0 || sum.First["max"] <= 0 {
		t.Errorf("summary %+v", sum)
	}
	if !strings.Contains(errOut, "first checkpoint 1000/1000") {
		t.Errorf("progress: %s", errOut)
	}
}
