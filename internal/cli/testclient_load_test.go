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
// -n 1000` against an in-process `powersync dev` to completion, over HTTP
// and over WebSocket, and measures the memory of 1000 open streams. It is left
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
	// The same load over each transport; over WebSocket every stream is
	// an RSocket connection paced by the client's credit.
	for _, tr := range []struct{ name, encoding string }{{"http", "ndjson"}, {"websocket", "bson"}} {
		t.Run(tr.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "test-client", "concurrent-connections", "-n", "1000", "--token", tok, "--endpoint", d.Endpoint,
				"--transport", tr.name, "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var sum struct {
				Completed int              `json:"completed_first_checkpoint"`
				Ops       int64            `json:"ops"`
				Errors    map[string]int64 `json:"errors"`
				First     map[string]int64 `json:"first_checkpoint_ms"`
				Transport string           `json:"transport"`
				Encoding  string           `json:"encoding"`
				Memory    *struct {
					Connected  int64 `json:"clients_connected"`
					RSSPerConn int64 `json:"rss_per_client_bytes"`
					GoPerConn  int64 `json:"go_per_client_bytes"`
					RSSBefore  int64 `json:"rss_before_bytes"`
					RSSAll     int64 `json:"rss_all_connected_bytes"`
					GoBefore   int64 `json:"go_before_bytes"`
					GoAll      int64 `json:"go_all_connected_bytes"`
				} `json:"memory"`
			}
			if err := json.Unmarshal([]byte(out), &sum); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if sum.Completed != 1000 || sum.Ops != 9000 || len(sum.Errors) != 0 || sum.First["max"] <= 0 ||
				sum.Transport != tr.name || sum.Encoding != tr.encoding {
				t.Errorf("summary %+v", sum)
			}
			if !strings.Contains(errOut, "first checkpoint 1000/1000") {
				t.Errorf("progress: %s", errOut)
			}
			// Every stream was open at the moment memory was sampled. The
			// figures cover both ends of each stream (client and service run
			// in this process); docs/benchmarks.md records them.
			if m := sum.Memory; m == nil || m.Connected != 1000 || m.GoAll <= m.GoBefore {
				t.Fatalf("memory %+v", sum.Memory)
			} else {
				t.Logf("%s: 1000 streams open: Go heap+stacks %d -> %d bytes (%d per stream, both ends), RSS %d -> %d (%d per stream)",
					tr.name, m.GoBefore, m.GoAll, m.GoPerConn, m.RSSBefore, m.RSSAll, m.RSSPerConn)
			}
		})
	}
}
