package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// Snapshot copies a table in pages of SnapshotPageRows rows ordered by its
// primary key, each page one query after the last key of the previous page,
// so a copy interrupted anywhere resumes from the last page replication
// committed. Changes made meanwhile are in the binary log after the slot's
// start position, and the stream replays them over the copy. Rows arrive
// in the text protocol and are decoded like binlog rows.
func (s *Source) Snapshot(ctx context.Context, t *source.Table, after []byte, fn func(source.SnapshotPage) error) error {
	schema, name, _ := strings.Cut(t.ID, ".")
	ts, err := s.readSchema(ctx, schema, name)
	if err != nil {
		return err
	}
	if err := matchKeys(ts, t.KeyColumns); err != nil {
		return fmt.Errorf("mysql source: snapshot %s: %w", t.ID, err)
	}
	var cur cursor
	if after != nil {
		if cur, err = decodeCursor(after, len(ts.keyIdx)); err != nil {
			return fmt.Errorf("mysql source: snapshot %s: %w", t.ID, err)
		}
	}
	var sel, order []string
	for _, c := range ts.cols {
		sel = append(sel, quoteIdent(c.name))
	}
	for _, k := range ts.keyIdx {
		order = append(order, quoteIdent(ts.cols[k].name))
	}
	// "After the cursor" spelled out per key column: (a > ?) OR (a = ? AND
	// b > ?) ...; MariaDB does not use the primary key for a row
	// constructor comparison, which made every page a full scan.
	var afterTerms []string
	var argIdx []int // key column index of each placeholder
	for i := range order {
		var terms []string
		for j := 0; j < i; j++ {
			terms = append(terms, order[j]+" = ?")
			argIdx = append(argIdx, j)
		}
		terms = append(terms, order[i]+" > ?")
		argIdx = append(argIdx, i)
		afterTerms = append(afterTerms, "("+strings.Join(terms, " AND ")+")")
	}
	table := quoteIdent(schema) + "." + quoteIdent(name)
	first := fmt.Sprintf("SELECT %s FROM %s ORDER BY %s LIMIT %d",
		strings.Join(sel, ", "), table, strings.Join(order, ", "), s.opts.SnapshotPageRows)
	next := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT %d",
		strings.Join(sel, ", "), table, strings.Join(afterTerms, " OR "),
		strings.Join(order, ", "), s.opts.SnapshotPageRows)

	conn, err := s.db.Conn(ctx)
	if err != nil {
		return wrap("snapshot "+t.ID, err)
	}
	defer conn.Close()
	keyVals := make([]sqlvalue.Value, len(ts.keyIdx))
	raw := make([]sql.RawBytes, len(ts.cols))
	dest := make([]any, len(ts.cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	for {
		q, args := first, []any(nil)
		if cur != nil {
			q = next
			for _, j := range argIdx {
				args = append(args, keyArg(&ts.cols[ts.keyIdx[j]], cur[j]))
			}
		}
		rows, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			return wrap("snapshot "+t.ID, err)
		}
		page := source.SnapshotPage{}
		var last cursor
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return wrap("snapshot "+t.ID, err)
			}
			row := make(sqlvalue.Row, len(ts.cols))
			for i := range ts.cols {
				c := &ts.cols[i]
				if raw[i] == nil {
					row[c.name] = sqlvalue.Null
					continue
				}
				v, err := s.dec.text(c, raw[i])
				if err != nil {
					rows.Close()
					return fmt.Errorf("mysql source: snapshot %s: %w", t.ID, err)
				}
				row[c.name] = v
			}
			for i, k := range ts.keyIdx {
				keyVals[i] = row[ts.cols[k].name]
			}
			page.Rows = append(page.Rows, row)
			page.Keys = append(page.Keys, source.AppendKey(nil, keyVals))
			if len(page.Rows) == s.opts.SnapshotPageRows {
				last = make(cursor, len(ts.keyIdx))
				for i, k := range ts.keyIdx {
					last[i] = append([]byte(nil), raw[k]...)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrap("snapshot "+t.ID, err)
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

// keyArg is a cursor value as a query argument: bytes for binary columns
// (compared byte-wise), text otherwise (the server converts it to the
// column's type).
func keyArg(c *column, v []byte) any {
	if c.binary || c.dataType == "binary" {
		return v
	}
	return string(v)
}

// matchKeys checks that the table's primary key is still the one the
// version was set up with.
func matchKeys(ts *tableSchema, keys []string) error {
	if len(keys) != len(ts.keyIdx) {
		return fmt.Errorf("the primary key changed (was %v)", keys)
	}
	for i, k := range ts.keyIdx {
		if ts.cols[k].name != keys[i] {
			return fmt.Errorf("the primary key changed (was %v)", keys)
		}
	}
	return nil
}
