package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/powersync-go/powersync/internal/config"
	sqlitesource "github.com/powersync-go/powersync/internal/source/sqlite"
	"github.com/spf13/cobra"
)

func newValidateCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate [-c service.yaml]",
		Short: "Check a service config and its sync config, printing every problem",
		Long: `validate loads the service config the way the service would (from -c,
--config-base64, $POWERSYNC_CONFIG_PATH, $POWERSYNC_CONFIG_B64, or the first of
./powersync/service.yaml, ./service.yaml, ./powersync.yaml), then checks the
sync config it points at. Every error and warning is printed with
file:line:column, the source line and a caret under the column.

Exit status: 0 when there are no errors (warnings allowed), 1 otherwise.`,
		Args: cobra.NoArgs,
	}
	cf := addConfigFlags(cmd)
	var syncRules string
	cmd.Flags().StringVar(&syncRules, "sync-rules", "", "check only this Sync Rules / Sync Streams file (no service config needed)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if syncRules != "" {
			return runValidateSyncRules(e, syncRules)
		}
		return runValidate(e, cf)
	}
	return cmd
}

func runValidate(e *env, cf *configFlags) error {
	cfg, err := cf.load(e, true)
	if err != nil {
		var ce *config.Error
		if !errors.As(err, &ce) {
			return err
		}
		fmt.Fprint(e.stderr, ce.Format())
		if ce.SourceName == "" {
			// Nothing was read: the message above says why.
			return &ExitError{Code: 1}
		}
		return &ExitError{Code: 1, Msg: fmt.Sprintf("%s: %s", ce.SourceName, countProblems(len(ce.Diagnostics), len(ce.Warnings)))}
	}

	diags := append([]config.Diagnostic(nil), cfg.Warnings...)
	diags = append(diags, validateSyncConfig(cfg)...)
	diags = append(diags, validateSources(cfg)...)
	errs, warns := printDiagnostics(e.stderr, diags, func(file string) []byte { return sourceFor(cfg, file) })
	if errs > 0 {
		return &ExitError{Code: 1, Msg: fmt.Sprintf("%s: %s", cfg.SourceName, countProblems(errs, warns))}
	}
	printSummary(e.stdout, cfg, warns)
	return nil
}

// validateSources checks what can be checked about the source databases
// without connecting to a server: a SQLite database file must exist, be a
// regular file the service may read and write, and be a SQLite database
// (the same check the service makes when it opens it).
func validateSources(cfg *config.Config) []config.Diagnostic {
	var out []config.Diagnostic
	for i, c := range cfg.Replication.Connections {
		if c.Type != config.TypeSQLite || c.Path == "" {
			continue
		}
		if err := sqlitesource.CheckFile(c.Path); err != nil {
			out = append(out, cfg.Diagnostic(config.SeverityError, fmt.Sprintf("replication.connections[%d].path", i), err.Error()))
		}
	}
	return out
}

// printDiagnostics writes diags to w, errors first, then warnings, each
// group in the order found, each with the source line from source(file)
// under it; it returns how many of each it wrote.
func printDiagnostics(w io.Writer, diags []config.Diagnostic, source func(file string) []byte) (errs, warns int) {
	for _, sev := range []config.Severity{config.SeverityError, config.SeverityWarning} {
		for _, d := range diags {
			if d.Severity != sev {
				continue
			}
			if sev == config.SeverityError {
				errs++
			} else {
				warns++
			}
			fmt.Fprint(w, d.Format(source(d.File)))
		}
	}
	return errs, warns
}

// sourceFor returns the text a diagnostic in file points into.
func sourceFor(cfg *config.Config, file string) []byte {
	switch {
	case file == cfg.SourceName:
		return cfg.Source
	case file != "" && file == cfg.SyncConfig.ContentFile:
		return []byte(cfg.SyncConfig.Content)
	}
	return nil
}

func countProblems(errs, warns int) string {
	return plural(errs, "error") + ", " + plural(warns, "warning")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// printSummary prints the one-line OK summary.
func printSummary(w io.Writer, cfg *config.Config, warns int) {
	var parts []string
	if len(cfg.Replication.Connections) > 0 {
		parts = append(parts, cfg.Replication.Connections[0].Type+" source")
	} else {
		parts = append(parts, "no source")
	}
	parts = append(parts, cfg.Storage.Type+" storage", fmt.Sprintf("port %d", cfg.Port))
	keys := len(cfg.ClientAuth.JWKS.Keys)
	auth := plural(keys, "key")
	if n := len(cfg.ClientAuth.JWKSURI); n > 0 {
		auth += ", " + plural(n, "JWKS URL")
	}
	if cfg.ClientAuth.Supabase {
		auth += ", Supabase"
	}
	parts = append(parts, auth)
	switch {
	case cfg.SyncConfig.Path != "":
		parts = append(parts, "sync config "+filepath.Base(cfg.SyncConfig.Path))
	case cfg.SyncConfig.ContentFile != "":
		parts = append(parts, "inline sync config")
	}
	line := fmt.Sprintf("OK: %s (%s)", cfg.SourceName, strings.Join(parts, ", "))
	if warns > 0 {
		line += ", " + plural(warns, "warning")
	}
	fmt.Fprintln(w, line)
}
