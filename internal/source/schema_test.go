package source_test

import (
	"testing"

	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/source"
)

// TestDefaultSchema pins the default-schema rule for every source type the
// config accepts: stored table references are built from it.
func TestDefaultSchema(t *testing.T) {
	for _, c := range []struct {
		typ, def, shown string
	}{
		{config.TypePostgres, "public", "public"},
		{config.TypeSQLite, "", "main"},
		{config.TypeMySQL, "", "app"},
		{"", "public", "public"},
		{"oracle", "public", "public"},
	} {
		if got := source.DefaultSchema(c.typ); got != c.def {
			t.Errorf("DefaultSchema(%q) = %q, want %q", c.typ, got, c.def)
		}
		if got := source.SchemaName(c.typ, "app"); got != c.shown {
			t.Errorf("SchemaName(%q) = %q, want %q", c.typ, got, c.shown)
		}
	}
}
