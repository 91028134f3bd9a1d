package protocol_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/powersync-go/powersync/protocol"
)

func TestAppendJSONString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `""`},
		{"plain text", `"plain text"`},
		{`say "hi" C:\x`, `"say \"hi\" C:\\x"`},
		{"\b\f\n\r\t", `"\b\f\n\r\t"`},
		{"\x00\x01\x1b\x1f", `"\u0000\u0001\u001b\u001f"`},
		{"\x7f", "\"\x7f\""},
		{"<script>&amp;</script>", `"<script>&amp;</script>"`},
		{"a\u2028b\u2029c", "\"a\u2028b\u2029c\""},
		{"日本é😀", `"日本é😀"`},
		{"\xff", "\"\uFFFD\""},
		{"a\xe2\x80", "\"a\uFFFD\uFFFD\""},         // truncated sequence: one U+FFFD per byte
		{"\xed\xa0\x80", "\"\uFFFD\uFFFD\uFFFD\""}, // an encoded surrogate is not UTF-8
		{"ok\xc3(", "\"ok\uFFFD(\""},
		{"\uFFFD", "\"\uFFFD\""},
	} {
		if got := string(protocol.AppendJSONString([]byte("x"), c.in)); got != "x"+c.want {
			t.Errorf("AppendJSONString(%q) = %q, want %q", c.in, got[1:], c.want)
		}
		if got := string(protocol.AppendJSONBytes(nil, []byte(c.in))); got != c.want {
			t.Errorf("AppendJSONBytes(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzAppendJSONString: for any bytes, the output is valid JSON that
// decodes to the input with invalid UTF-8 replaced (as encoding/json
// decodes its own output), and only quotes, backslashes and control
// characters are escaped.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "日本\xe2\x80", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := protocol.AppendJSONString(nil, s)
		if !utf8.Valid(out) || !json.Valid(out) {
			t.Fatalf("AppendJSONString(%q) = %q: not valid UTF-8 JSON", s, out)
		}
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		ref, _ := json.Marshal(s)
		var want string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("AppendJSONString(%q) decodes to %q, want %q", s, got, want)
		}
		if !bytes.Equal(out, protocol.AppendJSONBytes(nil, []byte(s))) {
			t.Fatalf("string and []byte forms differ for %q", s)
		}
		// Escapes only where JSON requires them: one backslash per quote and
		// control character, two per backslash.
		need := 0
		for i := 0; i < len(s); i++ {
			switch {
			case s[i] == '\\':
				need += 2
			case s[i] < 0x20 || s[i] == '"':
				need++
			}
		}
		if n := strings.Count(string(out), `\`); n != need {
			t.Fatalf("AppendJSONString(%q) = %q: %d backslashes, want %d", s, out, n, need)
		}
	})
}

// jsonLine is the single-key line encoding/json writes for v, for
// comparison with the append encoders where no string needs an escape that
// encoding/json writes differently.
func jsonLine(t *testing.T, key string, v any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{key: v})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAppendLinesMatchEncodingJSON(t *testing.T) {
	zero, one := 0, 1
	wc := protocol.OpID(43)
	buckets := []protocol.BucketChecksum{
		{Bucket: `by_user["u1"]`, Checksum: -1712802421, Count: 121, Priority: 3, Subscriptions: []protocol.BucketSubscription{{Default: &zero}}},
		{Bucket: "global[]", Checksum: 5, Count: 0, Priority: 0, Subscriptions: []protocol.BucketSubscription{{Sub: &one}, {Default: &zero, Sub: &one}, {}}},
		{Bucket: `q["say \"hi\"\\"]`, Checksum: 2147483647, Count: 9223372036854775807, Priority: 1},
	}
	streams := []protocol.StreamDescription{
		{Name: "by_user", IsDefault: true, Errors: []protocol.StreamError{}},
		{Name: "lists", IsDefault: false, Errors: []protocol.StreamError{
			{Subscription: "default", Message: `Parameter "x" is missing`}, {Subscription: 2, Message: "bad\n"}, {Subscription: int64(3), Message: ""}}},
		{Name: "nil errors"},
	}
	for _, c := range []struct {
		name string
		got  []byte
		key  string
		v    any
	}{
		{"checkpoint", protocol.AppendCheckpoint(nil, &protocol.Checkpoint{LastOpID: 1600, WriteCheckpoint: &wc, Buckets: buckets, Streams: streams}),
			"checkpoint", protocol.Checkpoint{LastOpID: 1600, WriteCheckpoint: &wc, Buckets: buckets, Streams: streams}},
		{"empty checkpoint", protocol.AppendCheckpoint(nil, &protocol.Checkpoint{Buckets: []protocol.BucketChecksum{}}),
			"checkpoint", protocol.Checkpoint{Buckets: []protocol.BucketChecksum{}}},
		{"empty streams", protocol.AppendCheckpoint(nil, &protocol.Checkpoint{Buckets: buckets[2:], Streams: []protocol.StreamDescription{}}),
			"checkpoint", protocol.Checkpoint{Buckets: buckets[2:], Streams: []protocol.StreamDescription{}}},
		{"diff", protocol.AppendCheckpointDiff(nil, &protocol.CheckpointDiff{LastOpID: 9, WriteCheckpoint: &wc, UpdatedBuckets: buckets[:1], RemovedBuckets: []string{"old[]", `x["\"\\"]`}}),
			"checkpoint_diff", protocol.CheckpointDiff{LastOpID: 9, WriteCheckpoint: &wc, UpdatedBuckets: buckets[:1], RemovedBuckets: []string{"old[]", `x["\"\\"]`}}},
		{"empty diff", protocol.AppendCheckpointDiff(nil, &protocol.CheckpointDiff{LastOpID: -1, UpdatedBuckets: []protocol.BucketChecksum{}, RemovedBuckets: []string{}}),
			"checkpoint_diff", protocol.CheckpointDiff{LastOpID: -1, UpdatedBuckets: []protocol.BucketChecksum{}, RemovedBuckets: []string{}}},
		{"checkpoint_complete", protocol.AppendCheckpointComplete(nil, 9223372036854775807),
			"checkpoint_complete", protocol.CheckpointComplete{LastOpID: 9223372036854775807}},
		{"partial_checkpoint_complete", protocol.AppendPartialCheckpointComplete(nil, 3, 2),
			"partial_checkpoint_complete", protocol.PartialCheckpointComplete{LastOpID: 3, Priority: 2}},
		{"token_expires_in", protocol.AppendTokenExpiresIn(nil, 1795), "token_expires_in", 1795},
	} {
		if want := jsonLine(t, c.key, c.v); string(c.got) != want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, want)
		}
	}

	// The empty diff with nil slices still has both arrays.
	if got := string(protocol.AppendCheckpointDiff(nil, &protocol.CheckpointDiff{LastOpID: 1})); got != `{"checkpoint_diff":{"last_op_id":"1","updated_buckets":[],"removed_buckets":[]}}` {
		t.Errorf("nil diff = %s", got)
	}
}

func TestAppendOpsAndDataLine(t *testing.T) {
	data := `{"id":"t1","description":"Test"}`
	put := protocol.AppendPutOp(nil, 1501, "todos", "t1", "e5aa2ddc-1328-58fa-a000-0b5ed31eaf1a", []byte(data), 2582164875)
	rm := protocol.AppendRemoveOp(nil, 1507, "todos", "t0", "s", 91237)
	mv := protocol.AppendMoveOp(nil, 1502, 1234)
	cl := protocol.AppendClearOp(nil, 1503, 0)
	// Each op is what encoding/json writes for the OplogEntry type.
	for _, c := range []struct {
		got []byte
		e   protocol.OplogEntry
	}{
		{put, protocol.OplogEntry{OpID: 1501, Op: protocol.OpPut, ObjectType: "todos", ObjectID: "t1", Subkey: "e5aa2ddc-1328-58fa-a000-0b5ed31eaf1a", Data: &data, Checksum: 2582164875}},
		{mv, protocol.OplogEntry{OpID: 1502, Op: protocol.OpMove, Checksum: 1234}},
		{cl, protocol.OplogEntry{OpID: 1503, Op: protocol.OpClear}},
	} {
		want, _ := json.Marshal(c.e)
		if string(c.got) != string(want) {
			t.Errorf("op:\n got %s\nwant %s", c.got, want)
		}
	}
	if want := `{"op_id":"1507","op":"REMOVE","object_type":"todos","object_id":"t0","subkey":"s","data":null,"checksum":91237}`; string(rm) != want {
		t.Errorf("remove:\n got %s\nwant %s", rm, want)
	}

	line := protocol.AppendDataLine([]byte("prefix"), `by_user["u1"]`, 1500, 1507, true, [][]byte{put, mv, rm})
	want := `prefix{"data":{"bucket":"by_user[\"u1\"]","after":"1500","next_after":"1507","has_more":true,"data":[` +
		string(put) + "," + string(mv) + "," + string(rm) + `]}}`
	if string(line) != want {
		t.Errorf("data line:\n got %s\nwant %s", line, want)
	}
	if got := string(protocol.AppendDataLine(nil, "b", 0, 0, false, nil)); got != `{"data":{"bucket":"b","after":"0","next_after":"0","has_more":false,"data":[]}}` {
		t.Errorf("empty data line = %s", got)
	}
	// The line decodes as the protocol types say.
	var l protocol.Line
	if err := json.Unmarshal(line[len("prefix"):], &l); err != nil || l.Data == nil || len(l.Data.Data) != 3 || *l.Data.Data[0].Data != data {
		t.Fatalf("decode data line: %v %+v", err, l.Data)
	}
}

// TestAppendDataLineAllocs: joining a chunk's ops into a line allocates at
// most once (growing dst), and not at all into a large enough buffer.
func TestAppendDataLineAllocs(t *testing.T) {
	ops := make([][]byte, 1000)
	for i := range ops {
		ops[i] = protocol.AppendPutOp(nil, int64(i), "todos", "t", "s", []byte(`{"id":"t"}`), 1)
	}
	buf := make([]byte, 0, 1<<20)
	if n := testing.AllocsPerRun(10, func() { buf = protocol.AppendDataLine(buf[:0], "b[]", 0, 999, false, ops) }); n != 0 {
		t.Errorf("AppendDataLine into a large buffer: %v allocations", n)
	}
	if n := testing.AllocsPerRun(10, func() { _ = protocol.AppendDataLine(nil, "b[]", 0, 999, false, ops) }); n > 1 {
		t.Errorf("AppendDataLine into nil: %v allocations, want at most 1", n)
	}
	row := []byte(`{"id":"t1","description":"non-ASCII é 日本 \u2028","n":1}`)
	if n := testing.AllocsPerRun(10, func() { buf = protocol.AppendPutOp(buf[:0], 1, "todos", "t1", "s", row, 1) }); n != 0 {
		t.Errorf("AppendPutOp: %v allocations", n)
	}
}

// BenchmarkAppendPutOp: the op JSON bucket storage writes per row (a todo
// of the benchmark shape).
func BenchmarkAppendPutOp(b *testing.B) {
	data := []byte(`{"id":"7f1c5b8e-3c1a-4f5e-9a7d-100000000042","description":"Todo number 42: buy milk and eggs",` +
		`"completed":0,"created_at":"2026-11-27T01:00:00.000Z","owner_id":"user-42"}`)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = protocol.AppendPutOp(buf[:0], int64(i), "todos", "7f1c5b8e-3c1a-4f5e-9a7d-100000000042", "0123456789abcdef0123456789abcdef", data, 2582164875)
	}
}

// BenchmarkAppendJSONString: short ASCII names and values, as in row data.
func BenchmarkAppendJSONString(b *testing.B) {
	strs := []string{"id", "7f1c5b8e-3c1a-4f5e-9a7d-100000000042", "description", "Buy milk and eggs and bread and butter 42",
		"created_at", "2026-11-27T01:00:00.000000Z", "Überprüfung — 日本語"}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = buf[:0]
		for _, s := range strs {
			buf = protocol.AppendJSONString(buf, s)
		}
	}
}
