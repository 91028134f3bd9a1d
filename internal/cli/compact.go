package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/powersync-go/powersync/internal/storage"
)

// newCompactCmd is `powersync compact`: compact the buckets of the active
// sync config version (superseded ops become MOVE, leading MOVE/REMOVE runs
// one CLEAR), keeping every bucket checksum. The reference runs it as a
// daily job; `start` can also run it on a schedule.
func newCompactCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Compact bucket storage (MOVE/CLEAR), keeping every bucket checksum",
		Long: `Compacts the buckets of the active sync config version: every op that a
newer op of the same row supersedes becomes a MOVE, and the leading run of
MOVE/REMOVE ops of each bucket becomes one CLEAR. Bucket checksums do not
change, so connected clients keep their data; new clients download less.

With embedded (pebble) storage the directory can only be open in one process:
stop the service first, or let its scheduled compaction do the work.`,
		Args: cobra.NoArgs,
	}
	flags := addConfigFlags(cmd)
	var buckets []string
	var moveBatch int
	cmd.Flags().StringSliceVarP(&buckets, "buckets", "b", nil, "compact only these buckets (comma-separated or repeated; default all)")
	cmd.Flags().IntVar(&moveBatch, "move-batch", 0, "ops rewritten per storage write (default 2000)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := flags.load(e, true)
		if err != nil {
			return err
		}
		if moveBatch < 0 {
			return fmt.Errorf("--move-batch %d: must not be negative", moveBatch)
		}
		for i, b := range buckets {
			buckets[i] = strings.TrimSpace(b)
			if buckets[i] == "" {
				return fmt.Errorf("--buckets: empty bucket name")
			}
		}
		ctx := cmd.Context()
		log := newLogger(cfg.System.Logging, e.stderr)
		st, err := openServiceStorage(ctx, cfg, roleSync, log)
		if err != nil {
			return err
		}
		defer st.Close(ctx)
		v, err := st.Active(ctx)
		if errors.Is(err, storage.ErrNotFound) {
			fmt.Fprintln(e.stdout, "no active sync config version: nothing to compact")
			return nil
		}
		if err != nil {
			return err
		}
		stats, err := st.Bucket(v.ID).Compact(ctx, storage.CompactOptions{Buckets: buckets, MoveBatch: moveBatch})
		if err != nil {
			return fmt.Errorf("compact version %d: %w", v.ID, err)
		}
		fmt.Fprintf(e.stdout, "compacted version %d: %d buckets, %d ops moved, %d ops folded into CLEAR, in %s\n",
			v.ID, stats.Buckets, stats.Moved, stats.Cleared, stats.Elapsed.Round(time.Millisecond))
		return nil
	}
	return cmd
}
