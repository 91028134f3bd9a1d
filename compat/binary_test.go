package compat_test

import (
	"bufio"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/devtest"
)

// TestDevBinaryBannerAndSIGINT runs the built powersync binary the way a
// user does: `powersync dev` prints its banner (the one place a test reads
// it: it is what the user reads), serves the endpoint it names, and exits
// with status 0 on Ctrl-C. Every other test runs instances in-process
// through devtest.
func TestDevBinaryBannerAndSIGINT(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "powersync")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/powersync").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "dev", "--dir", filepath.Join(t.TempDir(), "powersync-dev"), "--port", "0")
	cmd.Env = cleanEnv()
	stderr := &devtest.Log{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	// A test that fails early must not leave the process behind (after a
	// clean exit, Kill does nothing).
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// Each banner line is an event: read until the last one.
	fields := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		for _, k := range []string{"Sync endpoint:", "Development token:", "Admin token:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				fields[k] = strings.TrimSpace(v)
			}
		}
		if line == "Press Ctrl-C to stop." {
			break
		}
	}
	endpoint, token := fields["Sync endpoint:"], fields["Development token:"]
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || token == "" || fields["Admin token:"] == "" {
		t.Fatalf("banner fields %v; stderr:\n%s", fields, stderr)
	}
	go func() {
		for sc.Scan() {
		}
		exited <- cmd.Wait()
	}()

	req, _ := http.NewRequest(http.MethodPost, endpoint+"/sync/stream", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Token "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewScanner(resp.Body)
	r.Buffer(nil, 4<<20)
	complete := false
	for !complete && r.Scan() {
		complete = strings.HasPrefix(r.Text(), `{"checkpoint_complete"`)
	}
	resp.Body.Close()
	if !complete {
		t.Fatalf("the banner's endpoint and token did not sync: %v", r.Err())
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("powersync dev did not exit cleanly on SIGINT: %v\n%s", err, stderr)
		}
	case <-time.After(time.Minute):
		t.Fatalf("powersync dev did not stop within a minute of SIGINT:\n%s", stderr)
	}
	if !strings.Contains(stderr.String(), "powersync stopped") {
		t.Errorf("no stop message in the log:\n%s", stderr)
	}
}
