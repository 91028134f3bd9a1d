package cli_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/cli"
)

// devRun is one in-process run of `powersync dev`.
type devRun struct {
	endpoint, token string
	out             *syncBuffer
	stop            func() int
}

func runDevCmd(t *testing.T, dir string) *devRun {
	t.Helper()
	clearConfigEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &devRun{out: &syncBuffer{}}
	errOut := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"dev", "--dir", dir, "--port", "0"}, strings.NewReader(""), r.out, errOut)
	}()
	stopped := false
	var code int
	r.stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("powersync dev did not stop")
			}
		}
		return code
	}
	t.Cleanup(func() { r.stop() })
	deadline := time.Now().Add(60 * time.Second)
	for r.endpoint == "" || r.token == "" {
		for _, l := range strings.Split(r.out.String(), "\n") {
			l = strings.TrimSpace(l)
			if v, ok := strings.CutPrefix(l, "Sync endpoint:"); ok {
				r.endpoint = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "Development token:"); ok {
				r.token = strings.TrimSpace(v)
			}
		}
		select {
		case code := <-done:
			t.Fatalf("powersync dev exited with %d:\n%s", code, errOut)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no endpoint and token in the banner:\n%s\n%s", r.out, errOut)
		}
	}
	return r
}

// streamLines opens a sync stream and delivers its lines.
func (r *devRun) streamLines(t *testing.T) <-chan string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.endpoint+"/sync/stream", strings.NewReader(`{"raw_data":true}`))
	req.Header.Set("Authorization", "Token "+r.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("stream: status %d", resp.StatusCode)
	}
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	t.Cleanup(func() { resp.Body.Close() })
	return ch
}

// untilComplete collects lines up to the next checkpoint_complete.
func untilComplete(t *testing.T, ch <-chan string) []string {
	t.Helper()
	var lines []string
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("stream ended; lines so far: %v", lines)
			}
			lines = append(lines, l)
			if strings.HasPrefix(l, `{"checkpoint_complete"`) {
				return lines
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no checkpoint_complete within 20 s; lines: %v", lines)
		}
	}
}

func (r *devRun) crud(t *testing.T, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.endpoint+"/api/dev/crud", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestDevInstance(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "powersync-dev")
	r := runDevCmd(t, dir)
	if !strings.Contains(r.out.String(), "(created "+dir+")") {
		t.Errorf("banner does not say the folder was created:\n%s", r.out)
	}
	for _, f := range []string{"service.yaml", "sync-config.yaml", "source.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "service.yaml")); err == nil && st.Mode().Perm() != 0o600 {
		t.Errorf("service.yaml holds the signing key but has mode %v", st.Mode().Perm())
	}

	// test-user's lists and todos plus the global announcement.
	ch := r.streamLines(t)
	lines := untilComplete(t, ch)
	all := strings.Join(lines, "\n")
	for _, want := range []string{`by_user[\"test-user\"]`, `global[]`, `test-user-list-1-todo-3`, `"object_type":"announcements"`} {
		if !strings.Contains(all, want) {
			t.Errorf("initial sync lacks %s:\n%.2000s", want, all)
		}
	}
	if strings.Contains(all, "user-2-list") {
		t.Error("test-user received user-2's rows")
	}

	// Uploads through the dev write endpoint round-trip through the source.
	status, body := r.crud(t, r.token, `{"batch":[
		{"op":"PUT","type":"todos","id":"up-1","data":{"description":"uploaded","completed":1,"owner_id":"test-user"}},
		{"op":"PATCH","type":"todos","id":"test-user-list-1-todo-1","data":{"description":"patched"}},
		{"op":"DELETE","type":"todos","id":"test-user-list-1-todo-2"}]}`)
	if status != 200 || !strings.Contains(body, `"applied":3`) {
		t.Fatalf("crud: %d %s", status, body)
	}
	all = strings.Join(untilComplete(t, ch), "\n")
	for _, want := range []string{`checkpoint_diff`, `"object_id":"up-1"`, `\"completed\":1`, `patched`,
		`"op":"REMOVE","object_type":"todos","object_id":"test-user-list-1-todo-2"`} {
		if !strings.Contains(all, want) {
			t.Errorf("after the upload, the stream lacks %s:\n%.3000s", want, all)
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "source.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var completed any
	if err := db.QueryRow(`SELECT completed FROM todos WHERE id = 'up-1'`).Scan(&completed); err != nil || completed != int64(1) {
		t.Errorf("source row up-1: completed = %#v (%v), want the integer 1", completed, err)
	}

	// Bad batches name what is wrong; no token is 401.
	for _, c := range []struct{ token, body, want string }{
		{r.token, `{"batch":[{"op":"UPSERT","type":"todos","id":"x"}]}`, `batch[0].op must be PUT, PATCH or DELETE`},
		{r.token, `{"batch":[{"op":"PUT","type":"nope","id":"x","data":{}}]}`, `no table \"nope\"`},
		{r.token, `{"batch":[{"op":"PATCH","type":"todos","id":"x","data":{"bogus":1}}]}`, `no column \"bogus\"`},
		{r.token, `{"batch":[{"op":"PUT","type":"_powersync_changes","id":"x"}]}`, `is not writable`},
		{r.token, `{"batch":`, `PSYNC_S2001`},
		{"", `{"batch":[]}`, `PSYNC_S2106`},
	} {
		status, body := r.crud(t, c.token, c.body)
		if status == 200 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want an error with %s", c.body, status, body, c.want)
		}
	}

	if code := r.stop(); code != 0 {
		t.Fatalf("powersync dev exit code %d after cancellation", code)
	}

	// A second start reuses the folder and its data.
	r2 := runDevCmd(t, dir)
	if !strings.Contains(r2.out.String(), "(reused "+dir+")") {
		t.Errorf("banner does not say the folder was reused:\n%s", r2.out)
	}
	lines = untilComplete(t, r2.streamLines(t))
	if all := strings.Join(lines, "\n"); !strings.Contains(all, `"object_id":"up-1"`) {
		t.Errorf("after a restart the uploaded row is missing")
	}
	var cp struct {
		Checkpoint struct {
			Buckets []struct{ Bucket string }
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &cp); err != nil || len(cp.Checkpoint.Buckets) != 2 {
		t.Errorf("first line %s: %v", lines[0], err)
	}
}
