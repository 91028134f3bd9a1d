// Package sqlguard runs the admin API's execute-sql queries on a source
// database without letting them change anything: a statement gate that
// accepts exactly one read-only statement (Check), and the two runners that
// execute it on a connection the database itself keeps read-only
// (QuerySQLite with an authorizer, mode=ro and query_only; QueryPostgres in
// a READ ONLY transaction with a statement timeout, always rolled back).
//
// The gate is the first of the two walls, not the only one: it refuses
// what a read-only transaction still allows (functions that drop
// replication slots, signal backends, read server files, take advisory
// locks, or run SQL given as text), and the connection refuses writes the
// gate could not foresee (a user-defined function that writes, say).
package sqlguard

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Dialect is the SQL dialect of the source database.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "Postgres"
	}
	return "SQLite"
}

// MaxQueryBytes bounds the length of a query.
const MaxQueryBytes = 100_000

// RefusedError says what the gate refused and why.
type RefusedError struct {
	// What is the refused token as written, or a short description.
	What string
	// Why is the reason, in words for the person who sent the query.
	Why string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("execute-sql: refused %q: %s", e.What, e.Why)
}

func refuse(what, why string, args ...any) *RefusedError {
	return &RefusedError{What: what, Why: fmt.Sprintf(why, args...)}
}

const onlyReads = "execute-sql is read-only: only SELECT, WITH … SELECT, VALUES and EXPLAIN of those are allowed"

// Check decides whether query is one read-only statement execute-sql may
// run. It returns the statement to run (the query without a trailing ';'
// and what follows it), or a *RefusedError.
func Check(d Dialect, query string) (string, error) {
	if len(query) > MaxQueryBytes {
		return "", refuse("query", "it is %d bytes long; execute-sql takes at most %d", len(query), MaxQueryBytes)
	}
	if i := strings.IndexByte(query, 0); i >= 0 {
		return "", refuse("NUL", "the query holds a NUL byte (at byte %d)", i)
	}
	if !utf8.ValidString(query) {
		return "", refuse("query", "it is not valid UTF-8")
	}
	toks, err := lex(d, query)
	if err != nil {
		what := "query"
		if le, ok := err.(*lexError); ok {
			what = snippet(query[le.pos:])
		}
		return "", refuse(what, "%v", err)
	}
	end, rest := len(query), []token(nil)
	for i, t := range toks {
		if isPunct(t, ";") {
			end, rest, toks = t.pos, toks[i+1:], toks[:i]
			break
		}
	}
	if len(toks) == 0 {
		return "", refuse("query", "it holds no statement")
	}
	if err := checkShape(toks); err != nil {
		return "", err
	}
	if len(rest) > 0 {
		return "", refuse(rest[0].raw, "only one statement is allowed, and this one follows the ';' at byte %d", end)
	}
	if err := checkParens(toks); err != nil {
		return "", err
	}
	for i, t := range toks {
		if err := checkToken(toks, i, t); err != nil {
			return "", err
		}
	}
	return strings.TrimRight(query[:end], " \t\r\n\f\v"), nil
}

// snippet is the start of s, for naming where a problem starts.
func snippet(s string) string {
	const max = 24
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func checkParens(toks []token) error {
	depth := 0
	for _, t := range toks {
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "(":
			depth++
		case ")":
			depth--
			if depth < 0 {
				return refuse(")", "it closes a parenthesis that was not opened (at byte %d)", t.pos)
			}
		}
	}
	if depth != 0 {
		return refuse("(", "%d parenthesis left open", depth)
	}
	return nil
}

func isWord(t token, words ...string) bool {
	if t.kind != tokWord {
		return false
	}
	for _, w := range words {
		if t.text == w {
			return true
		}
	}
	return false
}

func isPunct(t token, p string) bool { return t.kind == tokPunct && t.text == p }

// checkShape checks the statement kind: SELECT, VALUES, WITH whose main
// statement is a SELECT or VALUES, or EXPLAIN of one of those.
func checkShape(toks []token) error {
	i := 0
	if isWord(toks[i], "explain") {
		i++
		if i < len(toks) && isPunct(toks[i], "(") { // Postgres: EXPLAIN (options)
			for i < len(toks) && !isPunct(toks[i], ")") {
				i++
			}
			i++
		}
		for i < len(toks) && isWord(toks[i], "verbose", "query", "plan", "analyze", "analyse") {
			if why, ok := deniedKeywords[toks[i].text]; ok {
				return refuse(toks[i].raw, "%s; %s", why, onlyReads)
			}
			i++
		}
		if i >= len(toks) {
			return refuse("EXPLAIN", "it names no statement to explain")
		}
	}
	for i < len(toks) && isPunct(toks[i], "(") {
		i++
	}
	if i >= len(toks) {
		return refuse("query", "it holds no statement")
	}
	first := toks[i]
	switch {
	case isWord(first, "select", "values"):
		return nil
	case isWord(first, "with"):
		return checkWith(toks[i+1:], first)
	}
	return refuse(first.raw, onlyReads)
}

// checkWith finds the main statement of a WITH: the first statement
// keyword outside the parentheses of the common table expressions.
func checkWith(toks []token, with token) error {
	depth := 0
	for _, t := range toks {
		switch {
		case isPunct(t, "("):
			depth++
		case isPunct(t, ")"):
			depth--
		case depth == 0 && isWord(t, "select", "values"):
			return nil
		case depth == 0 && isWord(t, "insert", "update", "delete", "merge", "replace", "table"):
			return refuse(t.raw, onlyReads)
		}
	}
	return refuse(with.raw, "the WITH has no main SELECT outside its parentheses")
}

// deniedKeywords may not appear (unquoted) anywhere in a query: they
// modify data in a WITH, create tables (SELECT … INTO), run what they
// explain (EXPLAIN ANALYZE), or are statements that change the connection.
var deniedKeywords = map[string]string{
	"insert":  "it writes (a data-modifying WITH is not read-only)",
	"update":  "it writes or locks rows",
	"delete":  "it writes (a data-modifying WITH is not read-only)",
	"merge":   "it writes",
	"into":    "it writes (SELECT … INTO creates a table; INSERT/REPLACE/VACUUM INTO write)",
	"analyze": "EXPLAIN ANALYZE runs the statement, and ANALYZE writes statistics",
	"analyse": "EXPLAIN ANALYSE runs the statement, and ANALYSE writes statistics",
	"pragma":  "PRAGMA can turn read-only off or change the connection",
	"attach":  "ATTACH opens or creates other database files",
	"detach":  "DETACH changes the connection",
	"vacuum":  "VACUUM rewrites the database or writes a copy of it to a file",
}

func checkToken(toks []token, i int, t token) error {
	switch t.kind {
	case tokWord:
		if why, ok := deniedKeywords[t.text]; ok {
			return refuse(t.raw, "%s; %s", why, onlyReads)
		}
		// FOR SHARE / FOR KEY SHARE / FOR NO KEY UPDATE lock rows.
		if t.text == "for" && i+1 < len(toks) && isWord(toks[i+1], "share", "key", "no") {
			return refuse(t.raw+" "+toks[i+1].raw, "it locks rows; %s", onlyReads)
		}
		fallthrough
	case tokQuoted:
		if why := deniedName(t.text); why != "" {
			return refuse(t.raw, "%s; execute-sql only reads", why)
		}
	}
	return nil
}
