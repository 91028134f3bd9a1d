package client_test

import (
	"strings"
	"testing"

	"github.com/powersync-go/powersync/client"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line, kind, err string
	}{
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":-1,"count":1}]}}`, "checkpoint", ""},
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":4294967295,"count":1,"priority":0}]}}`, "checkpoint", ""},
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":12.0}]}}`, "checkpoint", ""},
		{`{"checkpoint_diff":{"last_op_id":"6","updated_buckets":[],"removed_buckets":["x"]}}`, "checkpoint_diff", ""},
		{`{"data":{"bucket":"b","data":[{"op_id":"1","op":"PUT","object_type":"t","object_id":"1","data":"{}","checksum":3}]}}`, "data", ""},
		{`{"checkpoint_complete":{"last_op_id":"6"}}`, "checkpoint_complete", ""},
		{`{"partial_checkpoint_complete":{"last_op_id":"6","priority":1}}`, "partial_checkpoint_complete", ""},
		{`{"token_expires_in":30}`, "token_expires_in", ""},
		{`{"something_new":{}}`, "unknown", ""},
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":4294967296}]}}`, "", "out of the 32-bit range"},
		{`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":1.5}]}}`, "", "not a 32-bit integer"},
		{`{"checkpoint_complete":{"last_op_id":"x"}}`, "", "base-10"},
		{`{"partial_checkpoint_complete":{"last_op_id":"6"}}`, "", "no priority"},
		{`{"token_expires_in":1,"checkpoint_complete":{}}`, "", "exactly one key"},
		{`not json`, "", "not a JSON object"},
		{`{"checkpoint_complete":{"last_op_id":"6"}} x`, "", "text after the object"},
	}
	for _, tt := range tests {
		l, err := client.ParseLine([]byte(tt.line))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want one containing %q", tt.line, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.line, err)
			continue
		}
		if l.Kind() != tt.kind {
			t.Errorf("%s: kind %s, want %s", tt.line, l.Kind(), tt.kind)
		}
	}
}

func TestChecksumRepresentations(t *testing.T) {
	for _, s := range []string{"-1", "4294967295", "4294967295.0"} {
		var c client.Checksum
		if err := c.UnmarshalJSON([]byte(s)); err != nil || c != 0xffffffff {
			t.Errorf("%s: %d %v", s, c, err)
		}
	}
}

func TestSchemaValidate(t *testing.T) {
	tests := []struct {
		schema client.Schema
		err    string
	}{
		{client.Schema{Tables: []client.Table{client.NewTable("todos", "a", client.Text)}}, ""},
		{client.Schema{Tables: []client.Table{client.NewTable("ps_x")}}, "reserved"},
		{client.Schema{Tables: []client.Table{client.NewTable("a b")}}, "not a plain identifier"},
		{client.Schema{Tables: []client.Table{client.NewTable("t", "id", client.Text)}}, "defined twice"},
		{client.Schema{Tables: []client.Table{client.NewTable("t", "x", client.ColumnType("BLOB"))}}, "want TEXT, INTEGER or REAL"},
		{client.Schema{Tables: []client.Table{client.NewTable("t"), client.NewTable("T")}}, "defined twice"},
	}
	for _, tt := range tests {
		err := tt.schema.Validate()
		if (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("%+v: %v, want %q", tt.schema, err, tt.err)
		}
	}
}
