package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/powersync-go/powersync/internal/config"
)

// TestDocsExamples parses every ```yaml block of docs/configuration.md: the
// reference must only show configs that load.
func TestDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 8 {
		t.Fatalf("found only %d yaml blocks", len(blocks))
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sync-config.yaml"), []byte("bucket_definitions: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := envMap(map[string]string{
		"PS_DATA_SOURCE_URI": "postgresql://u:p@db:5432/app",
		"PS_PORT":            "8080",
		"PS_DEV_TOKENS":      "true",
		"PS_DEV_JWT_SECRET":  "aJE1UlMk6uIKDxAnhblzn6DRtvyVTXgES5QH3KGuvPQ",
		"PS_ADMIN_TOKEN":     "0123456789abcdef0123456789abcdef",
	})
	for i, b := range blocks {
		if _, err := config.Parse(b[1], filepath.Join(dir, "service.yaml"), env); err != nil {
			t.Errorf("yaml block %d of docs/configuration.md does not load:\n%s\n%v", i+1, b[1], err)
		}
	}
}
