package config_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/errors")

// goldenEnv is the environment every golden config is parsed with.
var goldenEnv = map[string]string{"PS_PORT": "8080", "PS_FLAG": "yes", "HOME": "/root"}

// TestGolden parses each broken config in testdata/errors and compares the
// full printed output (errors and warnings with source lines and carets)
// with its .golden file. Run `go test ./internal/config -run TestGolden
// -update` to rewrite them after an intended change, and review the diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/errors/*")
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range inputs {
		if strings.HasSuffix(in, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got := render(config.Parse(src, in, envMap(goldenEnv)))
			got = strings.ReplaceAll(got, wd, "$PKG")
			golden := strings.TrimSuffix(in, filepath.Ext(in)) + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (run with -update and review the diff)\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d golden inputs found", n)
	}
}

// render prints a Parse result the way `powersync validate` does.
func render(cfg *config.Config, err error) string {
	var ce *config.Error
	if errors.As(err, &ce) {
		return ce.Format()
	}
	if err != nil {
		return "unexpected error: " + err.Error() + "\n"
	}
	var b strings.Builder
	b.WriteString("OK\n")
	for _, w := range cfg.Warnings {
		b.WriteString(w.Format(cfg.Source))
	}
	return b.String()
}
