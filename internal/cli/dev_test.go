package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/powersync-go/powersync/internal/devtest"
)

// devCRUD posts an upload batch to the dev write endpoint.
func devCRUD(t *testing.T, d *devtest.Instance, token, body string) (int, string) {
	t.Helper()
	authz := ""
	if token != "" {
		authz = "Token " + token
	}
	return post(t, d.Endpoint+"/api/dev/crud", authz, body)
}

func TestDevInstance(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "powersync-dev")
	r := devtest.Dev(t, devtest.Options{Dir: dir})
	if !strings.Contains(r.Stdout.String(), "(created "+dir+")") {
		t.Errorf("banner does not say the folder was created:\n%s", r.Stdout)
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
	ch := r.OpenStream(t, r.DevToken, `{"raw_data":true}`)
	lines := ch.UntilComplete(t)
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
	status, body := devCRUD(t, r, r.DevToken, `{"batch":[
		{"op":"PUT","type":"todos","id":"up-1","data":{"description":"uploaded","completed":1,"owner_id":"test-user"}},
		{"op":"PATCH","type":"todos","id":"test-user-list-1-todo-1","data":{"description":"patched"}},
		{"op":"DELETE","type":"todos","id":"test-user-list-1-todo-2"}]}`)
	if status != 200 || !strings.Contains(body, `"applied":3`) {
		t.Fatalf("crud: %d %s", status, body)
	}
	all = strings.Join(ch.UntilComplete(t), "\n")
	for _, want := range []string{`checkpoint_diff`, `"object_id":"up-1"`, `\"completed\":1`, `patched`,
		`"op":"REMOVE","object_type":"todos","object_id":"test-user-list-1-todo-2"`} {
		if !strings.Contains(all, want) {
			t.Errorf("after the upload, the stream lacks %s:\n%.3000s", want, all)
		}
	}
	var completed any
	if err := r.Source(t).QueryRow(`SELECT completed FROM todos WHERE id = 'up-1'`).Scan(&completed); err != nil || completed != int64(1) {
		t.Errorf("source row up-1: completed = %#v (%v), want the integer 1", completed, err)
	}

	// Bad batches name what is wrong; no token is 401.
	for _, c := range []struct{ token, body, want string }{
		{r.DevToken, `{"batch":[{"op":"UPSERT","type":"todos","id":"x"}]}`, `batch[0].op must be PUT, PATCH or DELETE`},
		{r.DevToken, `{"batch":[{"op":"PUT","type":"nope","id":"x","data":{}}]}`, `no table \"nope\"`},
		{r.DevToken, `{"batch":[{"op":"PATCH","type":"todos","id":"x","data":{"bogus":1}}]}`, `no column \"bogus\"`},
		{r.DevToken, `{"batch":[{"op":"PUT","type":"_powersync_changes","id":"x"}]}`, `is not writable`},
		{r.DevToken, `{"batch":`, `PSYNC_S2001`},
		{"", `{"batch":[]}`, `PSYNC_S2106`},
	} {
		status, body := devCRUD(t, r, c.token, c.body)
		if status == 200 || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want an error with %s", c.body, status, body, c.want)
		}
	}

	if code := r.Stop(t); code != 0 {
		t.Fatalf("powersync dev exit code %d after cancellation", code)
	}

	// A second start reuses the folder and its data.
	r2 := devtest.Dev(t, devtest.Options{Dir: dir})
	if !strings.Contains(r2.Stdout.String(), "(reused "+dir+")") {
		t.Errorf("banner does not say the folder was reused:\n%s", r2.Stdout)
	}
	lines = r2.OpenStream(t, r2.DevToken, `{"raw_data":true}`).UntilComplete(t)
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
