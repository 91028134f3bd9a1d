package cli

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	pgstorage "github.com/powersync-go/powersync/internal/storage/postgres"
)

// newMigrateCmd is `powersync migrate up`: bring the bucket storage schema
// up to date. Sync and unified processes also migrate on start; run this
// before starting API-only processes on a new Postgres storage.
func newMigrateCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Manage the bucket storage schema",
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply pending bucket storage migrations (Postgres storage)",
		Args:  cobra.NoArgs,
	}
	flags := addConfigFlags(up)
	up.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.load(e, true)
		if err != nil {
			return err
		}
		if cfg.Storage.Type != "postgresql" {
			fmt.Fprintf(e.stdout, "storage type %q keeps its schema itself; nothing to migrate\n", cfg.Storage.Type)
			return nil
		}
		uri := cfg.Storage.PostgresURI()
		if uri == "" {
			return fmt.Errorf("storage: type postgresql needs uri or hostname")
		}
		ctx := cmd.Context()
		conn, err := pgx.Connect(ctx, uri)
		if err != nil {
			return fmt.Errorf("connect to bucket storage: %w", err)
		}
		defer conn.Close(ctx)
		start := time.Now()
		n, err := pgstorage.Migrate(ctx, conn)
		if err != nil {
			return err
		}
		have, _, err := pgstorage.SchemaVersion(ctx, conn)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "applied %d migration(s) in %s; schema %q is at version %d\n",
			n, time.Since(start).Round(time.Millisecond), pgstorage.Schema, have)
		return nil
	}
	cmd.AddCommand(up)
	return cmd
}
