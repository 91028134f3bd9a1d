package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Schema is the Postgres schema holding every storage object.
const Schema = "powersync"

// migrations are applied in order, each in its own transaction; the
// migrations table records which ran. Never edit a released migration: add
// a new one.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE SEQUENCE powersync.op_id_seq INCREMENT BY 1000 START WITH 1;
CREATE SEQUENCE powersync.version_seq;

-- One row per sync config version ("replication stream").
CREATE TABLE powersync.versions (
	id                   bigint PRIMARY KEY,
	state                text NOT NULL,
	content              text NOT NULL,
	slot_name            text NOT NULL DEFAULT '',
	snapshot_done        boolean NOT NULL DEFAULT false,
	checkpoint_op        bigint NOT NULL DEFAULT 0,
	checkpoint_pos       bigint NOT NULL DEFAULT 0, -- uint64 stored as int8
	checkpoint_time      timestamptz,
	committed_op         bigint NOT NULL DEFAULT 0,
	pending_op           bigint NOT NULL DEFAULT 0,
	no_checkpoint_before bigint NOT NULL DEFAULT 0, -- uint64 stored as int8
	last_error           text NOT NULL DEFAULT '',
	created_at           timestamptz NOT NULL DEFAULT now()
);

-- The op log: each op stored as its wire JSON, read back without decoding.
CREATE TABLE powersync.bucket_data (
	version   bigint NOT NULL,
	bucket    text NOT NULL,
	op_id     bigint NOT NULL,
	kind      smallint NOT NULL,  -- 1 PUT, 2 REMOVE, 3 MOVE, 4 CLEAR
	checksum  bigint NOT NULL,    -- uint32
	target_op bigint NOT NULL DEFAULT 0,
	identity  bytea,              -- hash of (object_type, object_id, subkey); PUT and REMOVE
	wire      bytea NOT NULL,
	PRIMARY KEY (version, bucket, op_id)
);

-- Running totals per bucket: one row per commit that touched the bucket,
-- keyed by the bucket's last op of that commit, so the checksum as of any
-- checkpoint is one index probe.
CREATE TABLE powersync.bucket_totals (
	version  bigint NOT NULL,
	bucket   text NOT NULL,
	op_id    bigint NOT NULL,
	checksum bigint NOT NULL,
	count    bigint NOT NULL,
	PRIMARY KEY (version, bucket, op_id)
);

-- What each source row produced last (and the row itself when kept).
CREATE TABLE powersync.current_data (
	version      bigint NOT NULL,
	source_table text NOT NULL,
	source_key   bytea NOT NULL,
	record       bytea NOT NULL,
	PRIMARY KEY (version, source_table, source_key)
);

-- Parameter lookup index entries; a NULL result is a tombstone.
CREATE TABLE powersync.lookups (
	version    bigint NOT NULL,
	key        bytea NOT NULL,
	source_row bytea NOT NULL,
	op_id      bigint NOT NULL,
	result     bytea,
	PRIMARY KEY (version, key, source_row, op_id)
);

CREATE TABLE powersync.snapshot_progress (
	version      bigint NOT NULL,
	source_table text NOT NULL,
	cursor       bytea,
	done         boolean NOT NULL DEFAULT false,
	PRIMARY KEY (version, source_table)
);

-- What each checkpoint changed, for the sync API of every process.
CREATE TABLE powersync.checkpoint_changes (
	seq         bigserial PRIMARY KEY,
	version     bigint NOT NULL,
	prev_op     bigint NOT NULL,
	prev_pos    bigint NOT NULL,
	op          bigint NOT NULL,
	pos         bigint NOT NULL,
	all_changed boolean NOT NULL,
	buckets     text[] NOT NULL,
	lookups     bytea[] NOT NULL
);
CREATE INDEX checkpoint_changes_version ON powersync.checkpoint_changes (version, seq);

CREATE TABLE powersync.write_checkpoints (
	user_id   text NOT NULL,
	client_id text NOT NULL,
	value     bigint NOT NULL,
	position  bigint NOT NULL,
	PRIMARY KEY (user_id, client_id, value)
);

CREATE TABLE powersync.settings (
	key   text PRIMARY KEY,
	value bytea NOT NULL
);

CREATE TABLE powersync.leases (
	name       text PRIMARY KEY,
	holder     text NOT NULL,
	token      text NOT NULL,
	expires_at timestamptz NOT NULL
);
`,
}

// migrateLock is the advisory lock key serialising migrations of several
// processes starting at once.
const migrateLock = 0x70_73_79_6e_63 // "psync"

// Migrate brings the storage schema up to date. It is safe to run from
// several processes at once and does nothing when the schema is current.
// It returns the number of migrations applied.
func Migrate(ctx context.Context, conn *pgx.Conn) (int, error) {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
		return 0, fmt.Errorf("migrate storage: lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrateLock)) //nolint:errcheck
	if _, err := conn.Exec(ctx, `
		CREATE SCHEMA IF NOT EXISTS powersync;
		CREATE TABLE IF NOT EXISTS powersync.migrations (
			version    int PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
		return 0, fmt.Errorf("migrate storage: create schema %s (the role needs CREATE on the database): %w", Schema, err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM powersync.migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("migrate storage: %w", err)
	}
	if current > len(migrations) {
		return 0, fmt.Errorf("migrate storage: schema version %d is newer than this binary knows (%d); upgrade powersync", current, len(migrations))
	}
	applied := 0
	for v := current + 1; v <= len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO powersync.migrations (version) VALUES ($1)`, v)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migrate storage: migration %d: %w", v, err)
		}
		applied++
	}
	return applied, nil
}

// SchemaVersion returns the applied schema version (0 when none) and the
// version this binary expects.
func SchemaVersion(ctx context.Context, conn *pgx.Conn) (have, want int, err error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('powersync.migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, len(migrations), err
	}
	if !exists {
		return 0, len(migrations), nil
	}
	err = conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM powersync.migrations`).Scan(&have)
	return have, len(migrations), err
}
