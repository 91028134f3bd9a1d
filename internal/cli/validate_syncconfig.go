package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// validateSyncConfig checks the sync config (Sync Rules / Sync Streams) that
// cfg carries and returns its problems. Each diagnostic's File is the file
// the problem is in: cfg.SyncConfig.ContentFile, whose text starts at line
// cfg.SyncConfig.ContentLine (an inline `content: |` block starts inside the
// service config itself, indented: columns are shifted by that
// indentation).
func validateSyncConfig(cfg *config.Config) []config.Diagnostic {
	if strings.TrimSpace(cfg.SyncConfig.Content) == "" {
		d := config.Diagnostic{
			File:     cfg.SourceName,
			Severity: config.SeverityError,
			Path:     "sync_config",
			Message:  "no sync config: set sync_config.path to a Sync Rules / Sync Streams file, or put the YAML under sync_config.content",
		}
		if cfg.SyncConfig.ContentFile != "" {
			d.File, d.Line, d.Column = cfg.SyncConfig.ContentFile, cfg.SyncConfig.ContentLine, 0
			d.Message = "the sync config is empty"
		}
		return []config.Diagnostic{d}
	}
	file := cfg.SyncConfig.ContentFile
	if file == "" {
		file = cfg.SourceName
	}
	lineOff, colOff := 0, 0
	if cfg.SyncConfig.ContentLine > 1 {
		lineOff = cfg.SyncConfig.ContentLine - 1
	}
	if file == cfg.SourceName && lineOff > 0 {
		colOff = blockIndent(cfg.Source, cfg.SyncConfig.ContentLine, cfg.SyncConfig.Content)
	}
	_, diags := syncrules.Parse([]byte(cfg.SyncConfig.Content), syncrules.ParseOptions{DefaultSchema: defaultSchema(cfg)})
	return syncRulesDiagnostics(file, diags, lineOff, colOff)
}

// defaultSchema is the schema unqualified tables live in for the config's
// first source (source.DefaultSchema decides it per source type).
func defaultSchema(cfg *config.Config) string {
	if len(cfg.Replication.Connections) > 0 {
		return source.DefaultSchema(cfg.Replication.Connections[0].Type)
	}
	return source.DefaultSchema("")
}

// blockIndent returns the indentation of an inline block scalar whose first
// content line is line n of src, or 0 when the line is not that content.
func blockIndent(src []byte, n int, content string) int {
	lines := strings.Split(string(src), "\n")
	if n < 1 || n > len(lines) {
		return 0
	}
	l := strings.TrimRight(lines[n-1], "\r")
	trimmed := strings.TrimLeft(l, " ")
	first, _, _ := strings.Cut(content, "\n")
	if strings.TrimRight(first, "\r") != trimmed {
		return 0
	}
	return len(l) - len(trimmed)
}

// syncRulesDiagnostics converts the engine's diagnostics to the CLI's,
// shifted to where the sync config text starts in file.
func syncRulesDiagnostics(file string, diags syncrules.Diagnostics, lineOff, colOff int) []config.Diagnostic {
	out := make([]config.Diagnostic, 0, len(diags))
	for _, d := range diags {
		sev := config.SeverityError
		if d.Severity == syncrules.SeverityWarning {
			sev = config.SeverityWarning
		}
		out = append(out, config.Diagnostic{
			File:     file,
			Line:     d.Line + lineOff,
			Column:   d.Column + colOff,
			Severity: sev,
			Message:  d.Message,
		})
	}
	return out
}

// runValidateSyncRules validates one sync config file on its own
// (validate --sync-rules FILE): errors first, then warnings, each with the
// source line and a caret; exit status 1 on errors.
func runValidateSyncRules(e *env, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &ExitError{Code: 1, Msg: fmt.Sprintf("cannot read the sync config: %v", err)}
	}
	// No config says which source the file is for: read it as for Postgres.
	_, sd := syncrules.Parse(data, syncrules.ParseOptions{DefaultSchema: source.DefaultSchema("")})
	diags := syncRulesDiagnostics(path, sd, 0, 0)
	errs, warns := printDiagnostics(e.stderr, diags, func(string) []byte { return data })
	if errs > 0 {
		return &ExitError{Code: 1, Msg: fmt.Sprintf("%s: %s", path, countProblems(errs, warns))}
	}
	line := "OK: " + path
	if warns > 0 {
		line += ", " + plural(warns, "warning")
	}
	fmt.Fprintln(e.stdout, line)
	return nil
}
