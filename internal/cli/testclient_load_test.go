//go:build !race

package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/devtest"
	"github.com/powersync-go/powersync/internal/testenv"
)

// TestConcurrentConnections1000 runs `test-client concurrent-connections
// -n 1000` against an in-process `powersync dev` to completion. It is left
// out of -race builds: the race detector's goroutine limit is below what
// 1000 clients and their 1000 server streams need in one process.
func TestConcurrentConnections1000(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 connections; skipped with -short")
	}
	// Client and server side of 1000 connections need about 2500 open
	// files: raise the soft limit up to the hard one when it is lower.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 2500 {
		lim.Cur = min(lim.Max, 4096)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < 2500 {
			testenv.Missing(t, "an open-file limit of 2500", fmt.Sprintf("1000 connections need it; the hard limit is %d", lim.Max))
		}
	}
	d := devtest.Dev(t, devtest.Options{})
	tok := d.Token(t, "test-user", time.Hour)
	code, out, errOut := runCLI(t, "test-client", "concurrent-connections", "-n", "1000", "--token", tok, "--endpoint", d.Endpoint, "--json")
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
