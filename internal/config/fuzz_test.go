package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/config"
)

// FuzzParse feeds arbitrary text to Parse: it must never panic, and every
// failure must be an *Error whose diagnostics all have a message and a
// position inside the text (or none).
//
//	go test ./internal/config -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/errors/*")
	seeds = append(seeds, "../../docs/examples/service.yaml")
	for _, p := range seeds {
		if strings.HasSuffix(p, ".golden") {
			continue
		}
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"", "port: !env PS_X::number", "a: &a [*a]", "<<: {port: 1}", "port: [", "{\"port\": 1}",
		"sync_config:\n  content: |\n    x\n", "client_auth: {jwks: {keys: [{kty: EC, crv: P-256}]}}",
		"--- \n...\n---\n", "? [a]\n: b\n", "port: !!str 1", "\t", "port: 0x1F",
	} {
		f.Add([]byte(s))
	}
	env := envMap(map[string]string{"PS_X": "12", "PS_B": "true"})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data, "testdata/fuzz.yaml", env)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("error %T is not *config.Error: %v", err, err)
		}
		if len(ce.Diagnostics) == 0 {
			t.Fatal("*config.Error without diagnostics")
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, d := range ce.Diagnostics {
			if d.Message == "" {
				t.Fatalf("empty message: %+v", d)
			}
			if d.Line > lines {
				t.Fatalf("line %d beyond the %d lines of the input: %+v", d.Line, lines, d)
			}
		}
		_ = ce.Format()
	})
}
