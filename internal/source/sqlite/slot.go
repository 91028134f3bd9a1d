package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sort"

	"github.com/powersync-go/powersync/internal/storage"
)

// schemaSQL creates the source's own tables. key has no declared type, so
// it keeps the id's storage class exactly as the row stored it.
const schemaSQL = `
CREATE TABLE IF NOT EXISTS ` + changesTable + ` (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	tbl TEXT NOT NULL,
	key
);
CREATE TABLE IF NOT EXISTS ` + slotsTable + ` (
	name TEXT PRIMARY KEY,
	position INTEGER NOT NULL
);`

// triggerSQL returns the statements that install the change triggers of a
// table. An update that changes the id records both ids: the old one then
// reads as deleted.
func triggerSQL(table string) []string {
	t := quoteIdent(table)
	lit := quoteString(table)
	name := func(kind string) string { return quoteIdent(triggerPrefix + table + "_" + kind) }
	return []string{
		`CREATE TRIGGER IF NOT EXISTS ` + name("insert") + ` AFTER INSERT ON ` + t + ` BEGIN ` +
			`INSERT INTO ` + changesTable + `(tbl, key) VALUES (` + lit + `, NEW."id"); END`,
		`CREATE TRIGGER IF NOT EXISTS ` + name("update") + ` AFTER UPDATE ON ` + t + ` BEGIN ` +
			`INSERT INTO ` + changesTable + `(tbl, key) VALUES (` + lit + `, NEW."id"); ` +
			`INSERT INTO ` + changesTable + `(tbl, key) SELECT ` + lit + `, OLD."id" WHERE OLD."id" IS NOT NEW."id"; END`,
		`CREATE TRIGGER IF NOT EXISTS ` + name("delete") + ` AFTER DELETE ON ` + t + ` BEGIN ` +
			`INSERT INTO ` + changesTable + `(tbl, key) VALUES (` + lit + `, OLD."id"); END`,
	}
}

// withWrite runs fn inside a write transaction (BEGIN IMMEDIATE) on one
// connection.
func (s *Source) withWrite(ctx context.Context, what string, fn func(c *sql.Conn) error) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return s.wrap(what, err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return s.wrap(what, err)
	}
	if err := fn(c); err != nil {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		return s.wrap(what, err)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		return s.wrap(what, err)
	}
	return nil
}

// Start installs the change triggers of every table resolved by Tables so
// far and prepares slot. A new slot starts at the current end of the change
// stream and is reported fresh (a snapshot is needed). For an existing slot
// the stream resumes at the later of resume (storage's committed position)
// and the slot's acknowledged position.
func (s *Source) Start(ctx context.Context, slot string, resume storage.Position) (storage.Position, bool, error) {
	if slot == "" {
		return 0, false, fmt.Errorf("sqlite source: empty slot name")
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.refs))
	for n := range s.refs {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)

	var pos storage.Position
	fresh := false
	err := s.withWrite(ctx, "prepare change capture for slot "+slot, func(c *sql.Conn) error {
		if _, err := c.ExecContext(ctx, schemaSQL); err != nil {
			return err
		}
		for _, n := range names {
			for _, q := range triggerSQL(n) {
				if _, err := c.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("install trigger on %q: %w", n, err)
				}
			}
		}
		var acked sql.NullInt64
		err := c.QueryRowContext(ctx, "SELECT position FROM "+slotsTable+" WHERE name = ?", slot).Scan(&acked)
		switch {
		case err == sql.ErrNoRows:
			head, err := currentSeq(ctx, c)
			if err != nil {
				return err
			}
			if _, err := c.ExecContext(ctx, "INSERT INTO "+slotsTable+"(name, position) VALUES (?, ?)", slot, int64(head)); err != nil {
				return err
			}
			pos, fresh = head, true
		case err != nil:
			return err
		default:
			pos = max(storage.Position(acked.Int64), resume)
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	s.log.Info("change capture ready", "slot", slot, "position", uint64(pos), "fresh", fresh, "tables", len(names))
	return pos, fresh, nil
}

// ensureTriggers re-creates change triggers that disappeared: dropping a
// table drops its triggers, so a table dropped and created again would
// otherwise stop being followed. Rows written between the re-creation and
// this call were not captured; the warning says so.
func (s *Source) ensureTriggers(ctx context.Context) error {
	s.mu.Lock()
	names := make([]string, 0, len(s.refs))
	for n := range s.refs {
		names = append(names, n)
	}
	s.mu.Unlock()
	sort.Strings(names)
	var missing []string
	for _, n := range names {
		var tables, triggers int
		err := s.db.QueryRowContext(ctx,
			`SELECT (SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1), (SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ?1 AND name LIKE '\_powersync\_%' ESCAPE '\')`, n).
			Scan(&tables, &triggers)
		if err != nil {
			return s.wrap("check change triggers", err)
		}
		if tables == 1 && triggers < 3 {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := s.withWrite(ctx, "re-install change triggers", func(c *sql.Conn) error {
		for _, n := range missing {
			for _, q := range triggerSQL(n) {
				if _, err := c.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("install trigger on %q: %w", n, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Warn("synced tables were dropped and created again; change capture re-installed. Rows written to them before now are not replicated until the sync config is redeployed (a new snapshot)",
		"tables", missing)
	return nil
}

// currentSeq is the last change seq ever handed out (0 before the first).
func currentSeq(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (storage.Position, error) {
	var seq sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = ?", changesTable).Scan(&seq)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return storage.Position(seq.Int64), nil
}

// Head appends a marker to the change stream and returns its position, so
// that a stream on an idle database still moves past the head (write
// checkpoints wait for that).
func (s *Source) Head(ctx context.Context) (storage.Position, error) {
	var pos storage.Position
	err := s.withWrite(ctx, "append head marker", func(c *sql.Conn) error {
		if _, err := c.ExecContext(ctx, schemaSQL); err != nil {
			return err
		}
		res, err := c.ExecContext(ctx, "INSERT INTO "+changesTable+"(tbl, key) VALUES ('', NULL)")
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		pos = storage.Position(id)
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.Notify()
	return pos, nil
}

// ack records that slot's changes up to pos are durable in storage and
// trims the changes every slot has acknowledged.
func (s *Source) ack(ctx context.Context, slot string, pos storage.Position) error {
	err := s.withWrite(ctx, "acknowledge position", func(c *sql.Conn) error {
		_, err := c.ExecContext(ctx, "UPDATE "+slotsTable+" SET position = max(position, ?) WHERE name = ?", int64(pos), slot)
		return err
	})
	if err != nil {
		return err
	}
	return s.trim(ctx)
}

// trimBatch bounds the changes deleted by one write transaction, so that
// trimming a large backlog never holds the write lock for long against the
// application's writers.
const trimBatch = 20000

// trim deletes the changes every slot has acknowledged (all of them when
// no slot is left), trimBatch rows per write transaction.
func (s *Source) trim(ctx context.Context) error {
	for {
		var n int64
		err := s.withWrite(ctx, "trim changes", func(c *sql.Conn) error {
			res, err := c.ExecContext(ctx, "DELETE FROM "+changesTable+" WHERE seq IN (SELECT seq FROM "+changesTable+
				" WHERE seq <= (SELECT coalesce(min(position), (SELECT max(seq) FROM "+changesTable+")) FROM "+slotsTable+") ORDER BY seq LIMIT ?)", trimBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil || n < trimBatch {
			return err
		}
	}
}

// Drop removes slot; changes only it still needed are trimmed. The
// triggers stay (other slots may use them; they are cheap).
func (s *Source) Drop(ctx context.Context, slot string) error {
	err := s.withWrite(ctx, "drop slot "+slot, func(c *sql.Conn) error {
		if _, err := c.ExecContext(ctx, schemaSQL); err != nil {
			return err
		}
		_, err := c.ExecContext(ctx, "DELETE FROM "+slotsTable+" WHERE name = ?", slot)
		return err
	})
	if err != nil {
		return err
	}
	return s.trim(ctx)
}
