package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/internal/syncrules"
)

// The admin API, the dashboard and instance development tokens, as the
// API roles (unified, api) wire them.

// openDevKeys opens the instance development key and switch; the switch
// starts as client_auth.allow_temporary_tokens.
func openDevKeys(ctx context.Context, cfg *config.Config, st storage.Storage, log *slog.Logger) (*auth.DevKeys, error) {
	d, err := auth.OpenDevKeys(ctx, auth.DevKeyOptions{
		Settings: st.Settings(),
		Default:  cfg.ClientAuth.AllowTemporaryTokens,
		Logger:   log,
	})
	if err != nil {
		return nil, fmt.Errorf("development tokens: %w", err)
	}
	return d, nil
}

// adminOptions describes the service to the admin API.
func adminOptions(cfg *config.Config, s *service) server.AdminOptions {
	o := server.AdminOptions{
		Tokens:  cfg.API.Tokens,
		DevKeys: s.devKeys,
		Source:  s.src,
	}
	if len(cfg.Replication.Connections) == 0 {
		return o
	}
	c := cfg.Replication.Connections[0]
	ac := server.AdminConnection{ID: c.ID, Tag: c.Tag, Type: c.Type}
	if ac.ID == "" {
		ac.ID = "default"
	}
	if ac.Tag == "" {
		ac.Tag = "default"
	}
	switch c.Type {
	case config.TypePostgres:
		ac.URI = withoutPassword(c.PostgresURI())
		o.ParseOptions = syncrules.ParseOptions{DefaultSchema: "public"}
		uri := c.PostgresURI()
		o.ExecuteSQL = func(ctx context.Context, q string, args []any) (*server.SQLResult, error) {
			return queryPostgresReadOnly(ctx, uri, q, args)
		}
	case config.TypeSQLite:
		ac.URI = c.Path
		path := c.Path
		o.ExecuteSQL = func(ctx context.Context, q string, args []any) (*server.SQLResult, error) {
			return querySQLiteReadOnly(ctx, path, q, args)
		}
	}
	o.Connections = []server.AdminConnection{ac}
	return o
}

// withoutPassword drops the password of a connection URI (for display).
func withoutPassword(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "(unparsable URI)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	if q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// querySQLiteReadOnly runs q on a connection of its own that SQLite opens
// read-only, so no statement can change the source.
func querySQLiteReadOnly(ctx context.Context, path, q string, args []any) (*server.SQLResult, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+abs+"?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &server.SQLResult{Columns: cols}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, vals)
		if len(res.Rows) >= maxSQLRows {
			break
		}
	}
	return res, rows.Err()
}

// maxSQLRows bounds an execute-sql result.
const maxSQLRows = 10_000

// queryPostgresReadOnly runs q in a READ ONLY transaction that is rolled
// back, on a connection of its own.
func queryPostgresReadOnly(ctx context.Context, uri, q string, args []any) (*server.SQLResult, error) {
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
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	res := &server.SQLResult{}
	for _, f := range rows.FieldDescriptions() {
		res.Columns = append(res.Columns, f.Name)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		res.Rows = append(res.Rows, vals)
		if len(res.Rows) >= maxSQLRows {
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
