package sqlguard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Limits of one execute-sql query.
const (
	// MaxRows is the most rows a result holds; the rest are dropped.
	MaxRows = 10_000
	// Timeout ends a query that runs longer (SQLite is interrupted,
	// Postgres cancels it through statement_timeout).
	Timeout = 10 * time.Second
	// MaxValueBytes bounds one SQLite string or blob (SQLITE_LIMIT_LENGTH),
	// so zeroblob(1e9) fails instead of filling memory.
	MaxValueBytes = 16 << 20
	// MaxResultBytes bounds the strings and blobs of a whole result.
	MaxResultBytes = 64 << 20
)

// errResultTooLarge ends a query whose result outgrows MaxResultBytes.
var errResultTooLarge = fmt.Errorf("execute-sql: the result is larger than %d MiB; select fewer rows or columns", MaxResultBytes>>20)

// valueBytes is what the strings and blobs among vals weigh.
func valueBytes(vals []any) int {
	n := 0
	for _, v := range vals {
		switch x := v.(type) {
		case string:
			n += len(x)
		case []byte:
			n += len(x)
		}
	}
	return n
}

// Result is the result of a query: column names and rows of driver values.
type Result struct {
	Columns []string
	Rows    [][]any
}

// QuerySQLite checks query with the gate and runs it on a connection of
// its own to the SQLite database at path. The connection is opened
// read-only (mode=ro, query_only) and carries an authorizer that lets a
// statement read tables and call functions and nothing else: no ATTACH,
// PRAGMA, VACUUM, writes, schema changes or transactions, and no
// load_extension. It also cannot attach any database (SQLITE_LIMIT_ATTACHED
// is 0). The query is interrupted after Timeout.
func QuerySQLite(ctx context.Context, path, query string, args []any) (*Result, error) {
	stmt, err := Check(SQLite, query)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	conn, closeConn, auth, err := OpenSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	defer closeConn()
	rows, err := conn.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, auth.explain(ctx, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &Result{Columns: cols, Rows: [][]any{}}
	size := 0
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, auth.explain(ctx, err)
		}
		if size += valueBytes(vals); size > MaxResultBytes {
			return nil, errResultTooLarge
		}
		res.Rows = append(res.Rows, vals)
		if len(res.Rows) >= MaxRows {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, auth.explain(ctx, err)
	}
	return res, nil
}

// sqliteDSN is the modernc DSN of a read-only connection to path.
func sqliteDSN(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)"}
	return u.String(), nil
}

// Authorizer records what the read-only authorizer of a connection denied,
// so an error can name it.
type Authorizer struct {
	mu     sync.Mutex
	denied string
}

// allow is the authorizer callback: reads, SELECT and functions other
// than the denied ones; everything else is denied.
func (a *Authorizer) allow(action sqlite.AuthorizerActionCode, arg1, arg2, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRead, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthPragma:
		// The table-valued pragma functions (pragma_table_info(…)) ask
		// for PRAGMA too; these only describe the schema, and their
		// argument names a table or index, never a new setting.
		if introspectionPragmas[lowerASCII(arg1)] {
			return sqlite.AuthorizerOK
		}
	case sqlite.AuthFunction:
		if deniedName(lowerASCII(arg2)) == "" {
			return sqlite.AuthorizerOK
		}
		a.deny(fmt.Sprintf("function %s()", arg2))
		return sqlite.AuthorizerDeny
	}
	what := authActionNames[action]
	if what == "" {
		what = fmt.Sprintf("action %d", action)
	}
	if arg1 != "" {
		what += " " + arg1
	}
	a.deny(what)
	return sqlite.AuthorizerDeny
}

func (a *Authorizer) deny(what string) {
	a.mu.Lock()
	if a.denied == "" {
		a.denied = what
	}
	a.mu.Unlock()
}

// Denied returns the first operation the authorizer denied, or "".
func (a *Authorizer) Denied() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.denied
}

// explain turns a driver error into one that says what was refused or
// that the time ran out.
func (a *Authorizer) explain(ctx context.Context, err error) error {
	if d := a.Denied(); d != "" {
		return refuse(d, "the read-only SQLite connection does not allow it; execute-sql only reads")
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("execute-sql: the query ran longer than %s and was interrupted", Timeout)
	}
	return err
}

var introspectionPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "function_list": true, "collation_list": true,
	"pragma_list": true, "module_list": true, "database_list": true, "compile_options": true,
}

var authActionNames = map[sqlite.AuthorizerActionCode]string{
	sqlite.AuthAttach: "ATTACH", sqlite.AuthDetach: "DETACH", sqlite.AuthPragma: "PRAGMA",
	sqlite.AuthInsert: "INSERT into", sqlite.AuthUpdate: "UPDATE of", sqlite.AuthDelete: "DELETE from",
	sqlite.AuthTransaction: "transaction", sqlite.AuthSavepoint: "SAVEPOINT", sqlite.AuthAnalyze: "ANALYZE",
	sqlite.AuthReindex: "REINDEX", sqlite.AuthAlterTable: "ALTER TABLE",
	sqlite.AuthCreateTable: "CREATE TABLE", sqlite.AuthCreateTempTable: "CREATE TEMP TABLE",
	sqlite.AuthCreateIndex: "CREATE INDEX", sqlite.AuthCreateView: "CREATE VIEW",
	sqlite.AuthCreateTrigger: "CREATE TRIGGER", sqlite.AuthCreateVTable: "CREATE VIRTUAL TABLE",
	sqlite.AuthDropTable: "DROP TABLE", sqlite.AuthDropIndex: "DROP INDEX", sqlite.AuthDropView: "DROP VIEW",
	sqlite.AuthDropTrigger: "DROP TRIGGER", sqlite.AuthDropVTable: "DROP VIRTUAL TABLE",
}

// OpenSQLite opens the locked-down read-only connection QuerySQLite runs
// on, without the gate in front (tests and the fuzz target use it to check
// the connection on its own). Call closeConn when done.
func OpenSQLite(ctx context.Context, path string) (conn *sql.Conn, closeConn func(), auth *Authorizer, err error) {
	dsn, err := sqliteDSN(path)
	if err != nil {
		return nil, nil, nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, nil, nil, err
	}
	db.SetMaxOpenConns(1)
	conn, err = db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("open the SQLite source read-only: %w", err)
	}
	closeConn = func() {
		conn.Close()
		db.Close()
	}
	for _, l := range []struct{ id, v int }{
		{sqlite3.SQLITE_LIMIT_ATTACHED, 0},
		{sqlite3.SQLITE_LIMIT_LENGTH, MaxValueBytes},
		{sqlite3.SQLITE_LIMIT_SQL_LENGTH, MaxQueryBytes},
	} {
		if _, err := sqlite.Limit(conn, l.id, l.v); err != nil {
			closeConn()
			return nil, nil, nil, fmt.Errorf("limit the SQLite connection: %w", err)
		}
	}
	auth = &Authorizer{}
	err = conn.Raw(func(dc any) error {
		r, ok := dc.(sqlite.AuthorizerRegisterer)
		if !ok {
			return fmt.Errorf("the SQLite driver (%T) cannot install an authorizer", dc)
		}
		return r.RegisterAuthorizer(auth.allow)
	})
	if err != nil {
		closeConn()
		return nil, nil, nil, fmt.Errorf("install the read-only authorizer: %w", err)
	}
	return conn, closeConn, auth, nil
}
