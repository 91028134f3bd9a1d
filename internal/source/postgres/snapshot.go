package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// Snapshot copies a table in pages of SnapshotPageRows rows ordered by its
// replica identity, each page one READ COMMITTED query after the last key of
// the previous page, so a copy interrupted anywhere resumes from the last
// page replication committed. Rows are read in text format and decoded like
// streamed changes.
func (s *Source) Snapshot(ctx context.Context, t *source.Table, after []byte, fn func(source.SnapshotPage) error) error {
	cols, err := s.columns(ctx, t.Ref)
	if err != nil {
		return err
	}
	keyIdx, err := keyIndexes(cols, t.KeyColumns)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", t.ID, err)
	}
	var cur cursor
	if after != nil {
		if cur, err = decodeCursor(after, len(keyIdx)); err != nil {
			return fmt.Errorf("snapshot %s: %w", t.ID, err)
		}
	}

	var sel, order, params []string
	for _, c := range cols {
		sel = append(sel, pgx.Identifier{c.name}.Sanitize())
	}
	for i, k := range keyIdx {
		order = append(order, pgx.Identifier{cols[k].name}.Sanitize())
		params = append(params, fmt.Sprintf("$%d::%s", i+1, cols[k].typeName))
	}
	table := pgx.Identifier{t.Ref.Schema, t.Ref.Name}.Sanitize()
	first := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s LIMIT %d",
		strings.Join(sel, ", "), table, strings.Join(order, ", "), s.opts.SnapshotPageRows)
	next := fmt.Sprintf("SELECT %s FROM %s WHERE (%s) > (%s) ORDER BY %s LIMIT %d",
		strings.Join(sel, ", "), table, strings.Join(order, ", "), strings.Join(params, ", "),
		strings.Join(order, ", "), s.opts.SnapshotPageRows)

	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", t.ID, err)
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	keyVals := make([]sqlvalue.Value, len(keyIdx))
	for {
		sql, args := first, [][]byte(nil)
		if cur != nil {
			sql = next
			for _, v := range cur {
				args = append(args, []byte(v))
			}
		}
		res := pg.ExecParams(ctx, sql, args, nil, nil, nil)
		page := source.SnapshotPage{}
		var last cursor
		for res.NextRow() {
			vals := res.Values()
			row := make(sqlvalue.Row, len(cols))
			for i, c := range cols {
				if vals[i] == nil {
					row[c.name] = sqlvalue.Null
					continue
				}
				row[c.name] = s.dec.decode(c.typ, vals[i])
			}
			for i, k := range keyIdx {
				keyVals[i] = row[cols[k].name]
			}
			page.Rows = append(page.Rows, row)
			page.Keys = append(page.Keys, source.AppendKey(nil, keyVals))
			if len(page.Rows) == s.opts.SnapshotPageRows {
				last = make(cursor, len(keyIdx))
				for i, k := range keyIdx {
					last[i] = string(vals[k])
				}
			}
		}
		if _, err := res.Close(); err != nil {
			return fmt.Errorf("snapshot %s: %w", t.ID, err)
		}
		full := len(page.Rows) == s.opts.SnapshotPageRows
		if full {
			cur = last
			page.Cursor = cur.encode()
		}
		if err := fn(page); err != nil {
			return err
		}
		if !full {
			return nil
		}
	}
}

func keyIndexes(cols []column, keys []string) ([]int, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("no replica identity columns")
	}
	idx := make([]int, 0, len(keys))
	for _, k := range keys {
		found := -1
		for i, c := range cols {
			if c.name == k {
				found = i
				break
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("key column %q not found", k)
		}
		idx = append(idx, found)
	}
	return idx, nil
}
