package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

// rowScanner reads rows of `key, columns...` into sync rules rows.
type rowScanner struct {
	cols []string
	vals []any
	ptrs []any
}

func newRowScanner(cols []string, extra int) *rowScanner {
	n := len(cols) + extra
	r := &rowScanner{cols: cols, vals: make([]any, n), ptrs: make([]any, n)}
	for i := range r.vals {
		r.ptrs[i] = &r.vals[i]
	}
	return r
}

// scan reads one result row; the first extra values stay in r.vals.
func (r *rowScanner) scan(rows *sql.Rows, extra int) (sqlvalue.Row, error) {
	if err := rows.Scan(r.ptrs...); err != nil {
		return nil, err
	}
	row := make(sqlvalue.Row, len(r.cols))
	for i, c := range r.cols {
		row[c] = toValue(r.vals[extra+i])
	}
	return row, nil
}

// Snapshot reads table t in id order after cursor, one page of
// Options.PageRows rows per call of fn, all pages from one read
// transaction (one consistent view of the table). A snapshot resumed after
// a restart reads the rest from a newer view, which is fine because the
// change stream replays everything after the slot's start position.
func (s *Source) Snapshot(ctx context.Context, t *source.Table, cursor []byte, fn func(source.SnapshotPage) error) error {
	ti, err := s.tableInfo(ctx, t.ID)
	if err != nil {
		return err
	}
	base := "SELECT " + ti.selectList + " FROM " + quoteIdent(ti.name) + " AS t WHERE t.\"id\" "
	first := base + "IS NOT NULL ORDER BY t.\"id\" LIMIT ?"
	next := base + "> ? ORDER BY t.\"id\" LIMIT ?"
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("snapshot "+t.ID, err)
	}
	defer tx.Rollback()
	sc := newRowScanner(ti.columns, 0)
	idIdx := -1
	for i, c := range ti.columns {
		if c == "id" {
			idIdx = i
		}
	}
	for {
		var rows *sql.Rows
		if cursor == nil {
			rows, err = tx.QueryContext(ctx, first, s.opts.PageRows)
		} else {
			var after any
			after, err = decodeKey(cursor)
			if err != nil {
				return fmt.Errorf("sqlite source: snapshot cursor of %q: %w", t.ID, err)
			}
			rows, err = tx.QueryContext(ctx, next, after, s.opts.PageRows)
		}
		if err != nil {
			return s.wrap("snapshot "+t.ID, err)
		}
		var page source.SnapshotPage
		for rows.Next() {
			row, err := sc.scan(rows, 0)
			if err != nil {
				rows.Close()
				return s.wrap("snapshot "+t.ID, err)
			}
			key, ok := encodeKey(toValue(sc.vals[idIdx]))
			if !ok {
				continue
			}
			page.Rows = append(page.Rows, row)
			page.Keys = append(page.Keys, key)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.wrap("snapshot "+t.ID, err)
		}
		if len(page.Rows) == s.opts.PageRows {
			page.Cursor = page.Keys[len(page.Keys)-1]
		}
		if err := fn(page); err != nil {
			return err
		}
		if page.Cursor == nil {
			return nil
		}
		cursor = page.Cursor
	}
}

// Stream delivers the changes after from, grouped into one commit per
// drain of everything visible, until ctx is done.
func (s *Source) Stream(ctx context.Context, slot string, from storage.Position, tables func(sqlvalue.TableRef) *source.Table, h source.Handler) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return s.wrap("open stream connection", err)
	}
	defer c.Close()

	pos, acked := from, from
	lastAck := time.Now()
	dv, err := dataVersion(ctx, c)
	if err != nil {
		return s.wrap("read data_version", err)
	}
	watch := time.NewTicker(s.opts.WatchInterval)
	defer watch.Stop()
	poll := time.NewTimer(s.opts.PollInterval)
	defer poll.Stop()

	schema, err := schemaVersion(ctx, c)
	if err != nil {
		return s.wrap("read schema_version", err)
	}
	first := true
	for {
		wake := s.notified() // taken before the drain: no wake-up is lost
		if v, err := schemaVersion(ctx, c); err != nil {
			return s.wrap("read schema_version", err)
		} else if v != schema {
			schema = v
			if err := s.ensureTriggers(ctx); err != nil {
				return err
			}
		}
		next, changed, err := s.drain(ctx, c, pos, tables, h)
		if err != nil {
			return err
		}
		if next > pos || first {
			if changed {
				err = h.Commit(ctx, next)
			} else {
				err = h.Keepalive(ctx, next)
			}
			if err != nil {
				return err
			}
			pos, first = next, false
		}
		if pos > acked && time.Since(lastAck) >= s.opts.AckInterval {
			if err := s.ack(ctx, slot, pos); err != nil {
				// Acknowledging only trims; storage holds the position.
				s.log.Warn("acknowledge change position", "slot", slot, "position", uint64(pos), "error", err)
			} else {
				acked = pos
			}
			lastAck = time.Now()
		}

	wait:
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wake:
				break wait
			case <-poll.C:
				poll.Reset(s.opts.PollInterval)
				break wait
			case <-watch.C:
				v, err := dataVersion(ctx, c)
				if err != nil {
					return s.wrap("read data_version", err)
				}
				if v != dv {
					dv = v
					break wait
				}
			}
		}
	}
}

// schemaVersion reads PRAGMA schema_version, which changes with every
// schema change.
func schemaVersion(ctx context.Context, c *sql.Conn) (int64, error) {
	var v int64
	err := c.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v)
	return v, err
}

// dataVersion reads PRAGMA data_version, which changes on the connection
// whenever another connection commits.
func dataVersion(ctx context.Context, c *sql.Conn) (int64, error) {
	var v int64
	err := c.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
	return v, err
}

// drain delivers every change after pos visible in one read transaction
// and returns the position it reached and whether any row change was
// delivered (markers and tables without a mapping only move the position).
func (s *Source) drain(ctx context.Context, c *sql.Conn, pos storage.Position, tables func(sqlvalue.TableRef) *source.Table, h source.Handler) (storage.Position, bool, error) {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return pos, false, s.wrap("begin read", err)
	}
	defer tx.Rollback()

	var maxSeq sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT max(seq) FROM "+changesTable).Scan(&maxSeq); err != nil {
		return pos, false, s.wrap("read changes", err)
	}
	end := storage.Position(maxSeq.Int64)
	if !maxSeq.Valid || end <= pos {
		return pos, false, nil
	}

	rows, err := tx.QueryContext(ctx, "SELECT DISTINCT tbl FROM "+changesTable+" WHERE seq > ? AND seq <= ?", int64(pos), int64(end))
	if err != nil {
		return pos, false, s.wrap("read changes", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return pos, false, s.wrap("read changes", err)
		}
		if n != "" {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return pos, false, s.wrap("read changes", err)
	}

	changed := false
	for _, n := range names {
		s.mu.Lock()
		ref, ok := s.refs[n]
		s.mu.Unlock()
		if !ok {
			continue
		}
		t := tables(ref)
		if t == nil {
			continue
		}
		ti, err := s.tableInfo(ctx, n)
		if errors.Is(err, errNoTable) {
			// The table was dropped: its changed rows are gone.
			s.log.Warn("a synced table was dropped; its changed rows replicate as deletes, its other rows stay until the sync config is redeployed", "table", n)
			ti, err = &tableInfo{name: n}, nil
		}
		if err != nil {
			return pos, false, err
		}
		k, err := s.drainTable(ctx, tx, ti, t, pos, end, h)
		if err != nil {
			return pos, false, err
		}
		changed = changed || k
	}
	return end, changed, nil
}

// drainTable delivers the rows of one table changed in (from, to], each
// once, re-read as of the transaction.
func (s *Source) drainTable(ctx context.Context, tx *sql.Tx, ti *tableInfo, t *source.Table, from, to storage.Position, h source.Handler) (bool, error) {
	q := "SELECT c.key, " + ti.selectList + " FROM (SELECT DISTINCT key FROM " + changesTable +
		" WHERE tbl = ? AND seq > ? AND seq <= ?) AS c LEFT JOIN " + quoteIdent(ti.name) + " AS t ON t.\"id\" = c.key"
	if ti.selectList == "" {
		// A dropped table: every changed key reads as deleted.
		q = "SELECT DISTINCT key FROM " + changesTable + " WHERE tbl = ? AND seq > ? AND seq <= ?"
	}
	rows, err := tx.QueryContext(ctx, q, ti.name, int64(from), int64(to))
	if err != nil {
		return false, s.wrap("read changed rows of "+ti.name, err)
	}
	defer rows.Close()
	sc := newRowScanner(ti.columns, 1)
	changed := false
	for rows.Next() {
		row, err := sc.scan(rows, 1)
		if err != nil {
			return changed, s.wrap("read changed rows of "+ti.name, err)
		}
		key, ok := encodeKey(toValue(sc.vals[0]))
		if !ok {
			continue // a row with a NULL id is not replicated
		}
		ch := source.Change{Kind: source.Update, Table: t, Key: key, Row: row}
		if ti.selectList == "" || row["id"].IsNull() {
			ch = source.Change{Kind: source.Delete, Table: t, Key: key}
		}
		if err := h.Change(ctx, ch); err != nil {
			return changed, err
		}
		changed = true
	}
	if err := rows.Err(); err != nil {
		return changed, s.wrap("read changed rows of "+ti.name, err)
	}
	return changed, nil
}
