package protocol_test

import (
	"strings"
	"testing"

	"github.com/powersync-go/powersync/protocol"
)

func TestParseLineLenient(t *testing.T) {
	// What other services (and older versions of this one) may send, and
	// the official clients accept.
	l, err := protocol.ParseLine([]byte(`{"checkpoint":{"last_op_id":5,"write_checkpoint":null,"future_key":[1,{}],` +
		`"buckets":[{"bucket":"a","checksum":-1,"count":2,"priority":null,"subscriptions":null,"x":1},` +
		`{"bucket":"b","checksum":4294967295.0},{"bucket":"c","checksum":7,"priority":0}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	cp := l.Checkpoint
	if l.Kind() != "checkpoint" || cp.LastOpID != 5 || cp.WriteCheckpoint != nil || len(cp.Buckets) != 3 || cp.Streams != nil {
		t.Fatalf("checkpoint = %+v", cp)
	}
	for i, want := range []struct {
		sum   protocol.Checksum
		count int64
		prio  int
	}{{0xffffffff, 2, 3}, {0xffffffff, 0, 3}, {7, 0, 0}} {
		b := cp.Buckets[i]
		if b.Checksum != want.sum || b.Count != want.count || b.EffectivePriority() != want.prio {
			t.Errorf("bucket %d = %+v (priority %d), want %+v", i, b, b.EffectivePriority(), want)
		}
	}

	l, err = protocol.ParseLine([]byte(`{"data":{"bucket":"b","data":[` +
		`{"op_id":"1","op":"PUT","object_type":"t","object_id":"1","subkey":null,"data":"{}","checksum":3,"extra":true},` +
		`{"op_id":2,"op":"MOVE","checksum":-2},{"op_id":"3","op":"REMOVE","object_type":"t","object_id":"1","data":null,"checksum":1}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := l.Data
	if d.Bucket != "b" || d.After != 0 || d.HasMore || len(d.Data) != 3 {
		t.Fatalf("data = %+v", d)
	}
	put, mv, rm := d.Data[0].Entry(), d.Data[1].Entry(), d.Data[2].Entry()
	if put.OpID != 1 || put.Op != protocol.OpPut || put.ObjectType != "t" || put.Subkey != "" || put.Data == nil || *put.Data != "{}" || put.Checksum != 3 {
		t.Errorf("put = %+v", put)
	}
	if mv.OpID != 2 || mv.Op != protocol.OpMove || mv.Checksum != 0xfffffffe || mv.Data != nil {
		t.Errorf("move = %+v", mv)
	}
	if rm.Op != protocol.OpRemove || rm.Data != nil || d.Data[2].Subkey != nil {
		t.Errorf("remove = %+v", rm)
	}

	for _, c := range []struct{ line, kind, err string }{
		{`{"checkpoint_diff":{"last_op_id":"6","updated_buckets":[],"removed_buckets":["x"]}}`, "checkpoint_diff", ""},
		{`{"checkpoint_complete":{"last_op_id":"6"}}`, "checkpoint_complete", ""},
		{` {"checkpoint_complete" : {"last_op_id":"6"}} `, "checkpoint_complete", ""},
		{`{"partial_checkpoint_complete":{"last_op_id":"6","priority":1}}`, "partial_checkpoint_complete", ""},
		{`{"token_expires_in":30}`, "token_expires_in", ""},
		{`{"something_new":{"a":[1,2]}}`, "unknown", ""},
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":4294967296}]}}`, "", "out of the 32-bit range"},
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":-2147483649}]}}`, "", "out of the 32-bit range"},
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":1.5}]}}`, "", "not a 32-bit integer"},
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":"1"}]}}`, "", "not a 32-bit integer"},
		{`{"checkpoint_complete":{"last_op_id":"x"}}`, "", "base-10"},
		{`{"partial_checkpoint_complete":{"last_op_id":"6"}}`, "", "no priority"},
		{`{"token_expires_in":1.5}`, "", "token_expires_in"},
		{`{"token_expires_in":1,"checkpoint_complete":{}}`, "", "exactly one key"},
		{`{}`, "", "want exactly one key, got 0"},
		{`not json`, "", "not a JSON object"},
		{`[1]`, "", "not a JSON object"},
		{``, "", "not a JSON object"},
		{`{"checkpoint_complete":{"last_op_id":"6"}} x`, "", "text after the object"},
		{`{"data":{"bucket":"b","data":[{"op_id":"1","op":"PUT"`, "", "data"},
	} {
		l, err := protocol.ParseLine([]byte(c.line))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one containing %q", c.line, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.line, err)
			continue
		}
		if l.Kind() != c.kind || string(l.Raw) != c.line {
			t.Errorf("%s: kind %s, want %s", c.line, l.Kind(), c.kind)
		}
	}
}

// TestParseLineReadsEncoders: every line the service's encoders write is
// read back with the same values.
func TestParseLineReadsEncoders(t *testing.T) {
	zero := 0
	wc := protocol.OpID(43)
	name := "odd[\"<&>\u2028\\\"\"]"
	cp := protocol.AppendCheckpoint(nil, &protocol.Checkpoint{LastOpID: 1600, WriteCheckpoint: &wc,
		Buckets: []protocol.BucketChecksum{{Bucket: name, Checksum: -5, Count: 2, Priority: 1, Subscriptions: []protocol.BucketSubscription{{Default: &zero}}}},
		Streams: []protocol.StreamDescription{{Name: "s", IsDefault: true, Errors: []protocol.StreamError{{Subscription: "default", Message: "m"}}}}})
	l, err := protocol.ParseLine(cp)
	if err != nil {
		t.Fatal(err)
	}
	b := l.Checkpoint.Buckets[0]
	if l.Checkpoint.LastOpID != 1600 || *l.Checkpoint.WriteCheckpoint != 43 || b.Bucket != name || b.Checksum != protocol.Checksum(0xfffffffb) ||
		b.Count != 2 || b.EffectivePriority() != 1 || *b.Subscriptions[0].Default != 0 || l.Checkpoint.Streams[0].Errors[0].Subscription != "default" {
		t.Fatalf("checkpoint read back as %+v", l.Checkpoint)
	}

	data := []byte("{\"id\":\"\xff\u2028\"}")
	line := protocol.AppendDataLine(nil, name, 7, 9, true, [][]byte{
		protocol.AppendPutOp(nil, 8, "todos", "t\x01", "s", data, 4294967295),
		protocol.AppendClearOp(nil, 9, 5)})
	l, err = protocol.ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	d := l.Data
	if d.Bucket != name || d.After != 7 || d.NextAfter != 9 || !d.HasMore || len(d.Data) != 2 {
		t.Fatalf("data read back as %+v", d)
	}
	if op := d.Data[0].Entry(); op.OpID != 8 || op.ObjectID != "t\x01" || *op.Data != "{\"id\":\"\uFFFD\u2028\"}" || op.Checksum != 4294967295 {
		t.Fatalf("put read back as %+v", op)
	}
	if op := d.Data[1].Entry(); op.Op != protocol.OpClear || op.Checksum != 5 || op.ObjectType != "" {
		t.Fatalf("clear read back as %+v", op)
	}

	l, err = protocol.ParseLine(protocol.AppendCheckpointDiff(nil, &protocol.CheckpointDiff{LastOpID: 2, RemovedBuckets: []string{name}}))
	if err != nil || l.CheckpointDiff.WriteCheckpoint != nil || l.CheckpointDiff.RemovedBuckets[0] != name || len(l.CheckpointDiff.UpdatedBuckets) != 0 {
		t.Fatalf("diff read back as %+v, %v", l.CheckpointDiff, err)
	}
	l, err = protocol.ParseLine(protocol.AppendPartialCheckpointComplete(nil, 3, 0))
	if err != nil || l.PartialCheckpointComplete.LastOpID != 3 || *l.PartialCheckpointComplete.Priority != 0 {
		t.Fatalf("partial read back as %+v, %v", l.PartialCheckpointComplete, err)
	}
	l, err = protocol.ParseLine(protocol.AppendCheckpointComplete(nil, 3))
	if err != nil || l.CheckpointComplete.LastOpID != 3 || l.CheckpointComplete.Priority != nil {
		t.Fatalf("complete read back as %+v, %v", l.CheckpointComplete, err)
	}
	l, err = protocol.ParseLine(protocol.AppendTokenExpiresIn(nil, 0))
	if err != nil || *l.TokenExpiresIn != 0 {
		t.Fatalf("keepalive read back as %+v, %v", l, err)
	}
}

// FuzzParseLine: hostile lines give an error or a line of one kind, never
// a panic; a parsed line keeps its bytes.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":-1,"count":1}]}}`,
		`{"data":{"bucket":"b","data":[{"op_id":"1","op":"PUT","object_type":"t","object_id":"1","data":"{}","checksum":3}]}}`,
		`{"partial_checkpoint_complete":{"last_op_id":"6","priority":1}}`,
		`{"token_expires_in":30}`, `{"x":null}`, `{"checkpoint":null}`, `{`, `{"a":1,"b":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := protocol.ParseLine(b)
		if err != nil {
			return
		}
		if string(l.Raw) != string(b) {
			t.Fatalf("Raw %q, want %q", l.Raw, b)
		}
		_ = l.Kind()
	})
}
