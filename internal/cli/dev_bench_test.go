package cli_test

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// Benchmarks of a running `powersync dev` process (the real binary, so the
// memory figures are the service's alone). Figures go to docs/benchmarks.md.
//
//	go test ./internal/cli -run '^$' -bench Dev -benchtime 200x
//
// POWERSYNC_BENCH_IDLE_CONNS sets the number of idle streams opened by
// BenchmarkDevIdleMemory (default 1,000; documented: 10,000).

type devProc struct {
	cmd      *exec.Cmd
	dir      string
	endpoint string
	token    string
}

func startDevProc(b *testing.B) *devProc {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "powersync")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/powersync").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	p := &devProc{dir: filepath.Join(b.TempDir(), "dev")}
	p.cmd = exec.Command(bin, "dev", "--dir", p.dir, "--port", "0")
	p.cmd.Env = append(os.Environ(), "GOGC=100")
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		_ = p.cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (p.endpoint == "" || p.token == "") {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "Sync endpoint:"); ok {
			p.endpoint = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Development token:"); ok {
			p.token = strings.TrimSpace(v)
		}
	}
	if p.endpoint == "" || p.token == "" {
		b.Fatal("powersync dev printed no endpoint or token")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return p
}

func (p *devProc) rssKB(b *testing.B) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Skipf("no /proc: %v", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// stream opens a sync stream and returns once its first checkpoint is
// complete; the reader keeps the connection open.
func (p *devProc) stream(b *testing.B) (*bufio.Reader, func()) {
	req, _ := http.NewRequest("POST", p.endpoint+"/sync/stream", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Token "+p.token)
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	r := bufio.NewReaderSize(resp.Body, 4096)
	waitComplete(b, r)
	return r, func() { resp.Body.Close() }
}

func waitComplete(b *testing.B, r *bufio.Reader) {
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			b.Fatal(err)
		}
		if bytes.HasPrefix(line, []byte(`{"checkpoint_complete"`)) {
			return
		}
	}
}

// BenchmarkDevIdleMemory reports the RSS of an idle `powersync dev` and
// the RSS added per idle streaming connection.
func BenchmarkDevIdleMemory(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("POWERSYNC_BENCH_IDLE_CONNS")); err == nil && v > 0 {
		n = v
	}
	p := startDevProc(b)
	// One stream first, so replication and the API have warmed up.
	_, closeFirst := p.stream(b)
	time.Sleep(2 * time.Second)
	idle := p.rssKB(b)
	b.ResetTimer()
	var closers []func()
	for range n - 1 { // n streams in all (max_concurrent_connections defaults to 10,000)
		_, c := p.stream(b)
		closers = append(closers, c)
	}
	b.StopTimer()
	time.Sleep(2 * time.Second)
	withConns := p.rssKB(b)
	b.ReportMetric(float64(idle)/1024, "MB-idle-RSS")
	b.ReportMetric(float64(withConns-idle)/float64(n-1), "KB-RSS/conn")
	b.ReportMetric(float64(n), "conns")
	for _, c := range closers {
		c()
	}
	closeFirst()
}

// BenchmarkDevChangeLatency: an UPDATE of one row in the SQLite source →
// the connected client has read the checkpoint_complete that carries it
// (source change capture, replication, storage commit, API, loopback).
func BenchmarkDevChangeLatency(b *testing.B) {
	p := startDevProc(b)
	r, closeStream := p.stream(b)
	defer closeStream()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(p.dir, "source.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := db.Exec(`UPDATE todos SET description = ? WHERE id = 'test-user-list-1-todo-1'`, fmt.Sprint("change ", i)); err != nil {
			b.Fatal(err)
		}
		waitComplete(b, r)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(lat[(len(lat)-1)*99/100].Microseconds())/1000, "ms-p99")
}
