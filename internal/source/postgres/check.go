package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// CheckError is a source configuration problem with the SQL that fixes it.
type CheckError struct {
	Problem string
	Fix     string
}

func (e *CheckError) Error() string {
	if e.Fix == "" {
		return "postgres source: " + e.Problem
	}
	return "postgres source: " + e.Problem + "; fix with: " + e.Fix
}

// Check verifies what replication needs: logical WAL, a free replication
// slot and WAL sender, the publication with every operation and without
// publish_via_partition_root, and a role that may replicate.
func (s *Source) Check(ctx context.Context) error { return s.check(ctx, "") }

// check is Check for starting slot: that slot, and a WAL sender still
// holding it, do not count as used.
func (s *Source) check(ctx context.Context, slot string) error {
	var walLevel string
	var maxSlots, maxSenders, usedSlots, usedSenders int
	err := s.pool.QueryRow(ctx, `
		SELECT current_setting('wal_level'),
		       current_setting('max_replication_slots')::int,
		       current_setting('max_wal_senders')::int,
		       (SELECT count(*) FROM pg_catalog.pg_replication_slots WHERE slot_name <> $1)::int,
		       (SELECT count(*) FROM pg_catalog.pg_stat_replication r WHERE NOT EXISTS (
		           SELECT 1 FROM pg_catalog.pg_replication_slots x WHERE x.slot_name = $1 AND x.active_pid = r.pid))::int`, slot).
		Scan(&walLevel, &maxSlots, &maxSenders, &usedSlots, &usedSenders)
	if err != nil {
		return fmt.Errorf("postgres source: read settings: %w", err)
	}
	if walLevel != "logical" {
		return &CheckError{
			Problem: "wal_level is " + strconv.Quote(walLevel) + ", logical replication needs \"logical\"",
			Fix:     "ALTER SYSTEM SET wal_level = logical;  -- then restart Postgres",
		}
	}
	if maxSlots < 1 || usedSlots >= maxSlots {
		return &CheckError{
			Problem: fmt.Sprintf("no free replication slot (max_replication_slots = %d, %d in use)", maxSlots, usedSlots),
			Fix:     fmt.Sprintf("ALTER SYSTEM SET max_replication_slots = %d;  -- then restart Postgres (or drop unused slots with pg_drop_replication_slot)", maxSlots+2),
		}
	}
	if maxSenders < 1 || usedSenders >= maxSenders {
		return &CheckError{
			Problem: fmt.Sprintf("no free WAL sender (max_wal_senders = %d, %d in use)", maxSenders, usedSenders),
			Fix:     fmt.Sprintf("ALTER SYSTEM SET max_wal_senders = %d;  -- then restart Postgres", maxSenders+2),
		}
	}

	var canReplicate bool
	var role string
	err = s.pool.QueryRow(ctx, `
		SELECT current_user, r.rolsuper OR r.rolreplication OR EXISTS (
			SELECT 1 FROM pg_catalog.pg_auth_members m
			JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
			WHERE m.member = r.oid AND g.rolname = 'rds_replication')
		FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`).Scan(&role, &canReplicate)
	if err != nil {
		return fmt.Errorf("postgres source: read role: %w", err)
	}
	if !canReplicate {
		return &CheckError{
			Problem: fmt.Sprintf("role %q may not start logical replication", role),
			Fix:     fmt.Sprintf("ALTER ROLE %s WITH REPLICATION BYPASSRLS;", quoteIdent(role)),
		}
	}

	var ins, upd, del, trunc, viaRoot bool
	err = s.pool.QueryRow(ctx, `
		SELECT pubinsert, pubupdate, pubdelete, pubtruncate, pubviaroot
		FROM pg_catalog.pg_publication WHERE pubname = $1`, PublicationName).
		Scan(&ins, &upd, &del, &trunc, &viaRoot)
	if errors.Is(err, pgx.ErrNoRows) {
		return &CheckError{
			Problem: "publication \"powersync\" does not exist",
			Fix:     "CREATE PUBLICATION powersync FOR TABLE <the synced tables>;  -- or FOR ALL TABLES",
		}
	}
	if err != nil {
		return fmt.Errorf("postgres source: read publication: %w", err)
	}
	if !ins || !upd || !del || !trunc {
		return &CheckError{
			Problem: "publication \"powersync\" does not publish every operation (insert, update, delete and truncate are needed)",
			Fix:     "ALTER PUBLICATION powersync SET (publish = 'insert, update, delete, truncate');",
		}
	}
	if viaRoot {
		return &CheckError{
			Problem: "publication \"powersync\" uses publish_via_partition_root, which is not supported",
			Fix:     "ALTER PUBLICATION powersync SET (publish_via_partition_root = false);",
		}
	}
	return nil
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
