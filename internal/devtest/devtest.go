// Package devtest runs `powersync dev` and `powersync start` inside a test
// process, the way net/http/httptest runs a server: the instance reports its
// endpoint and admin token through an event (cli.RunOptions.Ready), its
// output is captured, tokens are minted with its own key, and it stops when
// the test ends. Every test package that needs a running instance (the CLI,
// the Go client, the diagnostics UI, the official SDK compatibility tests)
// uses it, so none parses the banner or sleeps until a port answers.
//
// The instance reads no environment of the test process: config comes only
// from its files and Options.Env, so a POWERSYNC_CONFIG_PATH set in the
// shell cannot change what a test runs.
package devtest

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the dev instance's source database

	"github.com/powersync-go/powersync/internal/cli"
)

// Bounds on how long an instance may take to start and to stop. They are
// limits that turn a hang into a failure with the instance's log, not
// expectations of speed.
const (
	startLimit = 2 * time.Minute
	stopLimit  = time.Minute
)

// Options adjust an instance.
type Options struct {
	// Dir is the dev instance's folder; empty means a new one under
	// t.TempDir(). Passing the folder of an earlier instance reuses it.
	Dir string
	// SyncConfig, when set, replaces the dev folder's sync-config.yaml
	// before the instance starts (a new folder is created first).
	SyncConfig string
	// Args are added to the command line (for example "-r", "sync").
	Args []string
	// Env is the whole environment the instance sees (for !env tags in a
	// config); the test process's environment is never read.
	Env map[string]string
}

// Instance is a running dev or start instance.
type Instance struct {
	cli.Instance
	// ConfigPath is the service.yaml the instance runs with.
	ConfigPath string
	// Stdout and Stderr hold what the instance printed so far (the dev
	// banner on Stdout; the log on Stderr).
	Stdout, Stderr *Log

	env    map[string]string
	cancel context.CancelFunc
	done   chan struct{}
	code   int // exit code, valid once done is closed

	mu     sync.Mutex
	source *sql.DB
}

// Dev runs `powersync dev` on a free port of 127.0.0.1 and returns once it
// serves (its first checkpoint is served). It stops when the test ends.
func Dev(t testing.TB, o Options) *Instance {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "powersync-dev")
	}
	if o.SyncConfig != "" {
		if _, err := cli.CreateDevFolder(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "sync-config.yaml"), []byte(o.SyncConfig), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	i := run(t, o.Env, append([]string{"dev", "--dir", dir, "--port", "0"}, o.Args...))
	i.ConfigPath = filepath.Join(dir, "service.yaml")
	return i
}

// Start runs `powersync start -c configPath` and returns once it serves
// (the first checkpoint can be streamed; for the sync role, once
// replication starts). The config should say port: 0. It stops when the
// test ends.
func Start(t testing.TB, configPath string, o Options) *Instance {
	t.Helper()
	i := run(t, o.Env, append([]string{"start", "-c", configPath}, o.Args...))
	i.ConfigPath = configPath
	return i
}

// Run runs any long-running powersync command line (dev, start, diagnose)
// in this process and returns once it reports that it serves. It stops
// when the test ends.
func Run(t testing.TB, args []string, o Options) *Instance {
	t.Helper()
	return run(t, o.Env, append(args, o.Args...))
}

// run runs the command line args in this process until Ready.
func run(t testing.TB, env map[string]string, args []string) *Instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	i := &Instance{Stdout: &Log{}, Stderr: &Log{}, env: env, cancel: cancel, done: make(chan struct{})}
	ready := make(chan cli.Instance, 1)
	go func() {
		defer close(i.done)
		i.code = cli.Run(ctx, args, cli.RunOptions{
			Stdout: i.Stdout,
			Stderr: i.Stderr,
			Getenv: i.getenv,
			Ready:  func(in cli.Instance) { ready <- in },
		})
	}()
	t.Cleanup(func() {
		if code := i.Stop(t); code != 0 {
			t.Errorf("powersync %s exited with %d:\n%s", args[0], code, i.Stderr)
		} else if t.Failed() {
			t.Logf("powersync %s log:\n%s", args[0], tail(i.Stderr.String(), 6000))
		}
	})
	select {
	case i.Instance = <-ready:
	case <-i.done:
		t.Fatalf("powersync %s exited with %d before serving:\n%s%s", strings.Join(args, " "), i.code, i.Stdout, i.Stderr)
	case <-time.After(startLimit):
		t.Fatalf("powersync %s did not serve within %s:\n%s", strings.Join(args, " "), startLimit, i.Stderr)
	}
	return i
}

func (i *Instance) getenv(name string) string { return i.env[name] }

// Stop cancels the instance (as Ctrl-C does), waits until it has closed
// everything, and returns its exit code. It is safe to call more than once.
func (i *Instance) Stop(t testing.TB) int {
	t.Helper()
	i.cancel()
	select {
	case <-i.done:
	case <-time.After(stopLimit):
		t.Fatalf("powersync did not stop within %s of cancellation:\n%s", stopLimit, tail(i.Stderr.String(), 6000))
	}
	i.mu.Lock()
	if i.source != nil {
		i.source.Close()
		i.source = nil
	}
	i.mu.Unlock()
	return i.code
}

// Done is closed when the instance has exited.
func (i *Instance) Done() <-chan struct{} { return i.done }

// Token signs a token for subject with the instance's HS256 key (as
// `powersync generate token -c service.yaml` does), valid for lifetime.
func (i *Instance) Token(t testing.TB, subject string, lifetime time.Duration) string {
	t.Helper()
	tok, err := i.Sign(subject, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Sign is Token for goroutines other than the test's (a client's
// connector): it returns the error instead of failing the test.
func (i *Instance) Sign(subject string, lifetime time.Duration) (string, error) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), []string{"generate", "token", "-c", i.ConfigPath, "--subject", subject,
		"--expires-in-seconds", strconv.Itoa(int(lifetime / time.Second))},
		cli.RunOptions{Stdout: &out, Stderr: &errOut, Getenv: i.getenv})
	if code != 0 {
		return "", fmt.Errorf("generate token --subject %s: exit %d: %s", subject, code, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Source opens the dev instance's SQLite source database (closed when the
// instance stops). Writes to it reach clients like any source change.
func (i *Instance) Source(t testing.TB) *sql.DB {
	t.Helper()
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.source == nil {
		if i.Dir == "" {
			t.Fatal("devtest: Source is for dev instances")
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(i.Dir, "source.db")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		i.source = db
	}
	return i.source
}

// Exec runs a statement on the dev instance's source database.
func (i *Instance) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := i.Source(t).Exec(query, args...); err != nil {
		t.Fatalf("source: %s: %v", query, err)
	}
}

// Stream is an open sync stream: its lines, in order, as they arrive.
type Stream struct {
	Resp  *http.Response
	lines chan string
}

// OpenStream posts body to /sync/stream with token and returns the stream
// (closed when the test ends). A status other than 200 fails the test.
func (i *Instance) OpenStream(t testing.TB, token, body string) *Stream {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, i.Endpoint+"/sync/stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("sync stream: status %d: %s", resp.StatusCode, b.String())
	}
	s := &Stream{Resp: resp, lines: make(chan string, 64)}
	go func() {
		// Ends when the body is closed at cleanup or the server ends it.
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return s
}

// Lines delivers the stream's lines; it is closed when the stream ends.
func (s *Stream) Lines() <-chan string { return s.lines }

// UntilComplete collects lines up to and including the next
// checkpoint_complete line.
func (s *Stream) UntilComplete(t testing.TB) []string {
	t.Helper()
	return s.Until(t, "checkpoint_complete", func(l string) bool {
		return strings.HasPrefix(l, `{"checkpoint_complete"`)
	})
}

// Until collects lines up to and including the first one for which done
// returns true; what names it in the failure message.
func (s *Stream) Until(t testing.TB, what string, done func(line string) bool) []string {
	t.Helper()
	var lines []string
	timeout := time.After(startLimit)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("the stream ended before %s; lines so far:\n%s", what, tail(strings.Join(lines, "\n"), 4000))
			}
			lines = append(lines, l)
			if done(l) {
				return lines
			}
		case <-timeout:
			t.Fatalf("no %s within %s; lines so far:\n%s", what, startLimit, tail(strings.Join(lines, "\n"), 4000))
		}
	}
}

// Log is a writer that goroutines of an instance (or a child process) and
// the test can share.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("…(%d bytes before)…\n%s", len(s)-n, s[len(s)-n:])
}
