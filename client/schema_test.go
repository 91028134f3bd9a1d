package client_test

import (
	"strings"
	"testing"

	"github.com/powersync-go/powersync/client"
)

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
