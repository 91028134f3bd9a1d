package source_test

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdaptersImportOnlyTheValueModel keeps the source adapters apart from
// the sync rules engine: they build sqlvalue Rows, and replication hands
// those to syncrules. An adapter that imported syncrules would tie every
// database driver to the compiler (and invite evaluating rules in the
// adapter).
func TestAdaptersImportOnlyTheValueModel(t *testing.T) {
	const module = "github.com/powersync-go/powersync/"
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, dir := range append([]os.DirEntry{nil}, dirs...) {
		path := "."
		if dir != nil {
			if !dir.IsDir() || dir.Name() == "testdata" {
				continue
			}
			path = filepath.Join(".", dir.Name())
		}
		pkg, err := build.ImportDir(path, 0)
		if _, ok := err.(*build.NoGoError); ok {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		checked++
		for _, imp := range pkg.Imports {
			if strings.HasPrefix(imp, module+"internal/syncrules") {
				t.Errorf("internal/source/%s imports %s; source adapters use internal/sqlvalue only", path, imp)
			}
		}
	}
	if checked < 3 {
		t.Fatalf("checked %d packages, want source and its adapters (postgres, sqlite, ...)", checked)
	}
}
