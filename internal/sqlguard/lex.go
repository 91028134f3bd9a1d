package sqlguard

import "fmt"

// The lexer splits a query into the tokens the database itself would see,
// so that nothing the gate takes for a string or a comment is code to the
// database. Where the two dialects differ it follows each one's own rules
// (SQLite's tokenize.c, Postgres's scan.l); where it cannot be sure it errs
// on seeing more code, never less: a token the database would read as part
// of a literal may be checked as a word here, never the other way round.

type tokenKind int

const (
	tokWord   tokenKind = iota // an unquoted identifier or keyword
	tokQuoted                  // a quoted identifier ("x", [x], `x`)
	tokString                  // a string, blob or dollar-quoted literal
	tokNumber
	tokParam // $1, ?, ?1, :name, @name, $name
	tokPunct // one operator or punctuation byte
)

type token struct {
	kind tokenKind
	// text is the normalised text: words and quoted identifiers in ASCII
	// lower case with quoting removed, punctuation as itself.
	text string
	// raw is the token as written.
	raw string
	pos int
}

// lexError is a query the lexer refuses to split (unterminated literal or
// comment, bytes the databases reject).
type lexError struct {
	pos int
	msg string
}

func (e *lexError) Error() string { return fmt.Sprintf("%s (at byte %d)", e.msg, e.pos) }

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// isIdentCont: both databases treat '$' and every byte of a multi-byte
// UTF-8 sequence as identifier characters.
func isIdentCont(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '$'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// lowerASCII lowers ASCII letters only, as both databases do when they
// fold unquoted identifiers.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// lex tokenizes q for dialect d. Comments are dropped.
func lex(d Dialect, q string) ([]token, error) {
	var toks []token
	i := 0
	add := func(kind tokenKind, text string, start int) {
		toks = append(toks, token{kind: kind, text: text, raw: q[start:i], pos: start})
	}
	for i < len(q) {
		c := q[i]
		start := i
		switch {
		case isSpace(c):
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' && !(d == Postgres && q[i] == '\r') {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end, err := blockComment(d, q, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '\'':
			end, err := quoted(q, i, '\'', false)
			if err != nil {
				return nil, err
			}
			i = end
			add(tokString, "", start)
		case c == '"' || d == SQLite && c == '`':
			end, err := quoted(q, i, c, false)
			if err != nil {
				return nil, err
			}
			i = end
			inner := q[start+1 : end-1]
			add(tokQuoted, lowerASCII(undouble(inner, c)), start)
		case d == SQLite && c == '[':
			j := i + 1
			for j < len(q) && q[j] != ']' {
				j++
			}
			if j == len(q) {
				return nil, &lexError{start, "unterminated [identifier]"}
			}
			i = j + 1
			add(tokQuoted, lowerASCII(q[start+1:j]), start)
		case isDigit(c) || c == '.' && i+1 < len(q) && isDigit(q[i+1]):
			i = number(q, i)
			add(tokNumber, q[start:i], start)
		case isIdentStart(c):
			for i < len(q) && isIdentCont(q[i]) {
				i++
			}
			word := q[start:i]
			if d == Postgres && (word == "e" || word == "E") && i < len(q) && q[i] == '\'' {
				end, err := quoted(q, i, '\'', true)
				if err != nil {
					return nil, err
				}
				i = end
				add(tokString, "", start)
				continue
			}
			if d == Postgres && (word == "u" || word == "U") && i+1 < len(q) && q[i] == '&' && q[i+1] == '"' {
				return nil, &lexError{start, `unicode-escaped identifiers (U&"…") are not accepted`}
			}
			add(tokWord, lowerASCII(word), start)
		case d == Postgres && c == '$':
			end, kind, err := pgDollar(q, i)
			if err != nil {
				return nil, err
			}
			i = end
			add(kind, q[start:i], start)
		case d == SQLite && c == '?':
			i++
			for i < len(q) && isDigit(q[i]) {
				i++
			}
			add(tokParam, q[start:i], start)
		case d == SQLite && (c == '$' || c == '@' || c == ':' || c == '#'):
			i = sqliteVariable(q, i)
			add(tokParam, q[start:i], start)
		default:
			i++
			add(tokPunct, q[start:i], start)
		}
	}
	return toks, nil
}

// blockComment returns the end of the comment that starts at i. Postgres
// comments nest, SQLite's do not. An unterminated comment is refused
// (SQLite would end it at the end of the input, Postgres refuses it).
func blockComment(d Dialect, q string, i int) (int, error) {
	start := i
	depth := 0
	for i < len(q) {
		switch {
		case q[i] == '/' && i+1 < len(q) && q[i+1] == '*':
			depth++
			i += 2
			if d == SQLite && depth > 1 {
				depth = 1
			}
		case q[i] == '*' && i+1 < len(q) && q[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i, nil
			}
		default:
			i++
		}
	}
	return 0, &lexError{start, "unterminated /* comment"}
}

// quoted returns the end (one past the closing quote) of the literal that
// opens with q[i] == quote; a doubled quote stands for itself, and with
// backslash (Postgres E'…') a backslash escapes the next byte.
func quoted(q string, i int, quote byte, backslash bool) (int, error) {
	start := i
	i++
	for i < len(q) {
		switch {
		case backslash && q[i] == '\\':
			i += 2
		case q[i] == quote:
			if i+1 < len(q) && q[i+1] == quote {
				i += 2
				continue
			}
			return i + 1, nil
		default:
			i++
		}
	}
	what := "string"
	if quote != '\'' {
		what = "quoted identifier"
	}
	return 0, &lexError{start, "unterminated " + what}
}

func undouble(s string, quote byte) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i])
		if s[i] == quote && i+1 < len(s) && s[i+1] == quote {
			i++
		}
	}
	return string(out)
}

// number consumes digits, one decimal point and an exponent. Letters that
// follow start a new (word) token here; both databases either do the same
// or reject the query.
func number(q string, i int) int {
	for i < len(q) && (isDigit(q[i]) || q[i] == '_') {
		i++
	}
	if i < len(q) && q[i] == '.' {
		i++
		for i < len(q) && (isDigit(q[i]) || q[i] == '_') {
			i++
		}
	}
	if i < len(q) && (q[i] == 'e' || q[i] == 'E') {
		j := i + 1
		if j < len(q) && (q[j] == '+' || q[j] == '-') {
			j++
		}
		if j < len(q) && isDigit(q[j]) {
			i = j
			for i < len(q) && isDigit(q[i]) {
				i++
			}
		}
	}
	return i
}

// pgDollar lexes what starts with '$' in Postgres: a parameter ($1), a
// dollar-quoted string ($$…$$, $tag$…$tag$) or a lone '$'.
func pgDollar(q string, i int) (int, tokenKind, error) {
	start := i
	if i+1 < len(q) && isDigit(q[i+1]) {
		i++
		for i < len(q) && isDigit(q[i]) {
			i++
		}
		return i, tokParam, nil
	}
	j := i + 1
	if j < len(q) && (isIdentStart(q[j])) {
		for j < len(q) && isIdentStart(q[j]) || j < len(q) && isDigit(q[j]) {
			j++
		}
	}
	if j >= len(q) || q[j] != '$' {
		return i + 1, tokPunct, nil
	}
	delim := q[start : j+1]
	body := j + 1
	for k := body; k+len(delim) <= len(q); k++ {
		if q[k:k+len(delim)] == delim {
			return k + len(delim), tokString, nil
		}
	}
	return 0, 0, &lexError{start, "unterminated dollar-quoted string"}
}

// sqliteVariable lexes SQLite's named parameters ($name, @name, :name,
// #name) exactly as SQLite does, including its Tcl forms "$a::b" and
// "$a(…)" where everything up to ')' (or a space) belongs to the name.
func sqliteVariable(q string, i int) int {
	n := 0
	i++
	for i < len(q) {
		c := q[i]
		switch {
		case isIdentCont(c):
			n++
			i++
			continue
		case c == '(' && n > 0:
			i++
			for i < len(q) && !isSpace(q[i]) && q[i] != ')' {
				i++
			}
			if i < len(q) && q[i] == ')' {
				i++
			}
			return i
		case c == ':' && i+1 < len(q) && q[i+1] == ':':
			i += 2
			continue
		}
		break
	}
	return i
}
