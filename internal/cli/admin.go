package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/powersync-go/powersync/internal/auth"
	"github.com/powersync-go/powersync/internal/config"
	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlguard"
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

// mysqlDatabase is the database of a MySQL connection ("" for others).
func mysqlDatabase(c config.Connection) string {
	if c.Type != config.TypeMySQL {
		return ""
	}
	u, err := url.Parse(c.MySQLURI())
	if err != nil {
		return c.Database
	}
	return strings.TrimPrefix(u.Path, "/")
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
	o.ParseOptions = syncrules.ParseOptions{DefaultSchema: source.DefaultSchema(c.Type)}
	o.SchemaName = source.SchemaName(c.Type, mysqlDatabase(c))
	if ac.ID == "" {
		ac.ID = "default"
	}
	if ac.Tag == "" {
		ac.Tag = "default"
	}
	switch c.Type {
	case config.TypePostgres:
		ac.URI = withoutPassword(c.PostgresURI())
		uri := c.PostgresURI()
		o.ExecuteSQL = func(ctx context.Context, q string, args []any) (*server.SQLResult, error) {
			return sqlResult(sqlguard.QueryPostgres(ctx, uri, q, args))
		}
		o.Schema = func(ctx context.Context) ([]server.SchemaTable, error) { return postgresSchema(ctx, uri) }
	case config.TypeSQLite:
		ac.URI = c.Path
		path := c.Path
		o.ExecuteSQL = func(ctx context.Context, q string, args []any) (*server.SQLResult, error) {
			return sqlResult(sqlguard.QuerySQLite(ctx, path, q, args))
		}
		o.Schema = func(ctx context.Context) ([]server.SchemaTable, error) { return sqliteSchema(ctx, path) }
	}
	o.Connections = []server.AdminConnection{ac}
	o.DebugAPI = c.DebugAPI
	return o
}

// sqlResult converts a sqlguard result for the admin API.
func sqlResult(r *sqlguard.Result, err error) (*server.SQLResult, error) {
	if err != nil {
		return nil, err
	}
	return &server.SQLResult{Columns: r.Columns, Rows: r.Rows}, nil
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

// sqliteSchema lists the application tables of a SQLite source (not
// SQLite's own nor the change-capture tables) with their columns.
func sqliteSchema(ctx context.Context, path string) ([]server.SchemaTable, error) {
	res, err := sqlguard.QuerySQLite(ctx, path, `SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' AND m.name NOT LIKE '\_powersync%' ESCAPE '\'
		ORDER BY m.name, p.cid`, nil)
	if err != nil {
		return nil, err
	}
	var out []server.SchemaTable
	for _, row := range res.Rows {
		table, _ := row[0].(string)
		col, _ := row[1].(string)
		typ, _ := row[2].(string)
		if len(out) == 0 || out[len(out)-1].Name != table {
			out = append(out, server.SchemaTable{Name: table})
		}
		t := &out[len(out)-1]
		t.Columns = append(t.Columns, server.SchemaColumn{Name: col, SQLiteType: sqliteAffinity(typ), SourceType: typ})
	}
	return out, nil
}

// sqliteAffinity is SQLite's column affinity of a declared type (the rules
// of section 3.1 of SQLite's datatype documentation), lower case.
func sqliteAffinity(decl string) string {
	t := strings.ToUpper(decl)
	switch {
	case strings.Contains(t, "INT"):
		return "integer"
	case strings.Contains(t, "CHAR"), strings.Contains(t, "CLOB"), strings.Contains(t, "TEXT"):
		return "text"
	case t == "", strings.Contains(t, "BLOB"):
		return "blob"
	case strings.Contains(t, "REAL"), strings.Contains(t, "FLOA"), strings.Contains(t, "DOUB"):
		return "real"
	}
	return "numeric"
}

// postgresSchema lists the tables of a Postgres source (outside the system
// schemas) with their columns, typed as replication converts them.
func postgresSchema(ctx context.Context, uri string) ([]server.SchemaTable, error) {
	res, err := sqlguard.QueryPostgres(ctx, uri, `SELECT n.nspname::text, c.relname::text, a.attname::text, t.typname::text,
			format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_attribute a
		JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
		WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
			AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
		ORDER BY n.nspname, c.relname, a.attnum`, nil)
	if err != nil {
		return nil, err
	}
	var out []server.SchemaTable
	for _, row := range res.Rows {
		var f [5]string
		for i := range f {
			f[i], _ = row[i].(string)
		}
		if len(out) == 0 || out[len(out)-1].Schema != f[0] || out[len(out)-1].Name != f[1] {
			out = append(out, server.SchemaTable{Schema: f[0], Name: f[1]})
		}
		t := &out[len(out)-1]
		t.Columns = append(t.Columns, server.SchemaColumn{Name: f[2], SQLiteType: postgresSQLiteType(f[3]), SourceType: f[4]})
	}
	return out, nil
}

// postgresSQLiteType is the SQLite type a Postgres type's values sync as:
// booleans and integers as integer, floats as real, bytea as blob, and
// everything else (numeric, dates, JSON, arrays, enums, ...) as text.
func postgresSQLiteType(typname string) string {
	switch typname {
	case "bool", "int2", "int4", "int8", "oid":
		return "integer"
	case "float4", "float8":
		return "real"
	case "bytea":
		return "blob"
	}
	return "text"
}
