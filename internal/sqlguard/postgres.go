package sqlguard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// QueryPostgres checks query with the gate and runs it on a connection of
// its own, inside a READ ONLY transaction that is always rolled back, with
// statement_timeout and lock_timeout at Timeout and standard-conforming
// strings on (the lexing the gate assumes: a backslash in '…' is just a
// backslash). Functions that act outside the transaction (replication
// slots, backends, server files, large objects, settings, advisory locks)
// are refused by the gate before anything is sent.
func QueryPostgres(ctx context.Context, uri, query string, args []any) (*Result, error) {
	stmt, err := Check(Postgres, query)
	if err != nil {
		return nil, err
	}
	return queryPostgres(ctx, uri, stmt, args)
}

func queryPostgres(ctx context.Context, uri, stmt string, args []any) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout+5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("connect to the source: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	ms := Timeout.Milliseconds()
	for _, set := range []string{
		fmt.Sprintf("SET LOCAL statement_timeout = %d", ms),
		fmt.Sprintf("SET LOCAL lock_timeout = %d", ms),
		"SET LOCAL standard_conforming_strings = on",
	} {
		if _, err := tx.Exec(ctx, set); err != nil {
			return nil, fmt.Errorf("prepare the read-only transaction: %w", err)
		}
	}
	rows, err := tx.Query(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	res := &Result{Rows: [][]any{}}
	size := 0
	for _, f := range rows.FieldDescriptions() {
		res.Columns = append(res.Columns, f.Name)
	}
	for rows.Next() {
		for _, raw := range rows.RawValues() {
			size += len(raw)
		}
		if size > MaxResultBytes {
			return nil, errResultTooLarge
		}
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, vals)
		if len(res.Rows) >= MaxRows {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if res.Columns == nil {
		return nil, errors.New("the statement returned no columns")
	}
	return res, nil
}
