package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/devtest"
)

type wireOp struct {
	OpID       string  `json:"op_id"`
	Op         string  `json:"op"`
	ObjectType string  `json:"object_type"`
	ObjectID   string  `json:"object_id"`
	Data       *string `json:"data"`
	Checksum   uint32  `json:"checksum"`
}

func TestFetchOperations(t *testing.T) {
	d := devtest.Dev(t, devtest.Options{})
	endpoint := d.Endpoint
	tok := d.Token(t, "test-user", time.Hour)
	// Two versions of one row: the raw output has both PUTs, the
	// normalized one the latest, with the first PUT's checksum in CLEAR.
	// A stream shows when replication has stored the update.
	stream := d.OpenStream(t, tok, `{"raw_data":true}`)
	d.Exec(t, `UPDATE todos SET description = 'second version' WHERE id = 'test-user-list-1-todo-1'`)
	stream.Until(t, "the update", func(l string) bool { return strings.Contains(l, "second version") })
	fetch := func(args ...string) map[string][]wireOp {
		t.Helper()
		var got map[string][]wireOp
		code, out, errOut := runCLI(t, append([]string{"test-client", "fetch-operations", "--token", tok, "--endpoint", endpoint}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		return got
	}
	raw := fetch("--raw")
	byUser := raw[bucketWith(raw, "by_user")]
	if len(byUser) != 9 {
		t.Fatalf("raw by_user ops: %d, want 9 (2 lists, 6 todos, 1 update): %+v", len(byUser), byUser)
	}
	norm := fetch()
	nb := norm[bucketWith(norm, "by_user")]
	if len(nb) != 9 || nb[0].Op != "CLEAR" || nb[0].OpID != "0" {
		t.Fatalf("normalized by_user: %+v", nb)
	}
	var rawSum, normSum uint32
	for _, op := range byUser {
		rawSum += op.Checksum
	}
	for _, op := range nb {
		normSum += op.Checksum
	}
	if rawSum != normSum || nb[0].Checksum == 0 {
		t.Errorf("normalized checksums sum to %d, raw to %d (CLEAR %d)", normSum, rawSum, nb[0].Checksum)
	}
	seen := map[string]bool{}
	for _, op := range nb[1:] {
		if op.Op != "PUT" || seen[op.ObjectID] {
			t.Errorf("normalized op %+v: want one PUT per row", op)
		}
		seen[op.ObjectID] = true
		if op.ObjectID == "test-user-list-1-todo-1" && !strings.Contains(*op.Data, "second version") {
			t.Errorf("normalized row is not the latest: %s", *op.Data)
		}
	}
	if g := norm[bucketWith(norm, "global")]; len(g) != 2 {
		t.Errorf("global bucket: %+v", g)
	}

	t.Run("endpoint from aud or an error", func(t *testing.T) {
		code, _, errOut := runCLI(t, "test-client", "fetch-operations", "--token", tok)
		if code == 0 || !strings.Contains(errOut, "--endpoint") {
			t.Errorf("without endpoint: %d %s", code, errOut)
		}
		code, out, errOut := runCLI(t, "test-client", "fetch-operations", "--token", "x.y.z", "--endpoint", endpoint)
		if code == 0 || !strings.Contains(errOut, "401") || out != "" {
			t.Errorf("bad token: %d %q %s", code, out, errOut)
		}
	})
}

func bucketWith(m map[string][]wireOp, part string) string {
	for k := range m {
		if strings.Contains(k, part) {
			return k
		}
	}
	return ""
}

func TestConcurrentConnections(t *testing.T) {
	d := devtest.Dev(t, devtest.Options{})
	endpoint, cfg := d.Endpoint, d.ConfigPath

	t.Run("one user per client from the config", func(t *testing.T) {
		code, out, errOut := runCLI(t, "test-client", "concurrent-connections", "-n", "20", "-c", cfg,
			"--endpoint", endpoint, "--sub-prefix", "user-", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var sum struct {
			Clients   int              `json:"clients"`
			Completed int              `json:"completed_first_checkpoint"`
			First     map[string]int64 `json:"first_checkpoint_ms"`
			Ops       int64            `json:"ops"`
			Bytes     int64            `json:"bytes"`
			Wire      int64            `json:"wire_bytes"`
			Errors    map[string]int64 `json:"errors"`
		}
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		// user-2 and user-3 have 8 ops each, everyone the announcement.
		if sum.Clients != 20 || sum.Completed != 20 || sum.Ops != 20+16 || sum.Bytes == 0 || sum.Wire == 0 || len(sum.Errors) != 0 {
			t.Errorf("summary %+v", sum)
		}
		for _, p := range []string{"p50", "p95", "p99", "max"} {
			if _, ok := sum.First[p]; !ok {
				t.Errorf("no %s in %v", p, sum.First)
			}
		}
		if sum.First["p50"] > sum.First["max"] {
			t.Errorf("p50 above max: %v", sum.First)
		}
		if !strings.Contains(errOut, "first checkpoint 20/20") {
			t.Errorf("no final progress line on stderr: %q", errOut)
		}
	})

	t.Run("shared token, table output, errors by code", func(t *testing.T) {
		tok := d.Token(t, "test-user", time.Hour)
		code, out, errOut := runCLI(t, "test-client", "concurrent-connections", "-n", "5", "--token", tok, "--endpoint", endpoint)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{"5 of 5", "time to first complete checkpoint", "p99", "operations received", "45 (", "bytes on the wire", "errors", "none"} {
			if !strings.Contains(out, want) {
				t.Errorf("summary lacks %q:\n%s", want, out)
			}
		}
		code, out, _ = runCLI(t, "test-client", "concurrent-connections", "-n", "3", "--token", tok[:len(tok)-4]+"AAAA",
			"--endpoint", endpoint, "--duration", "1500ms")
		if code != 0 || !strings.Contains(out, "PSYNC_S2102") || !strings.Contains(out, "0 of 3") {
			t.Errorf("bad token run: %d\n%s", code, out)
		}
	})
}
