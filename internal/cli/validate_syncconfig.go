package cli

import (
	"strings"

	"github.com/powersync-go/powersync/internal/config"
)

// validateSyncConfig checks the sync config (Sync Rules / Sync Streams) that
// cfg carries and returns its problems. Each diagnostic's File is the file
// the problem is in: cfg.SyncConfig.ContentFile, whose text starts at line
// cfg.SyncConfig.ContentLine (an inline `content: |` block starts inside the
// service config itself).
//
// This first version only checks that a sync config is present; the config
// loader has already checked that sync_config.path is readable. The sync
// rules engine replaces the body with its real diagnostics.
func validateSyncConfig(cfg *config.Config) []config.Diagnostic {
	if strings.TrimSpace(cfg.SyncConfig.Content) != "" {
		return nil
	}
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
