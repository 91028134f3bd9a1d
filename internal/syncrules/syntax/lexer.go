package syntax

import (
	"strings"
	"unicode/utf8"
)

// tokKind is the class of a lexical token of the SQL subset.
type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokQuotedIdent
	tokNumber
	tokString
	tokBlob
	tokOp
	tokParam
	tokError
)

// token is one lexical token. For tokIdent, text is as written (callers
// lower-case); for tokQuotedIdent and tokString the unescaped content; for
// tokOp the operator text; for tokError the message.
type token struct {
	kind tokKind
	text string
	span Span
	// spaceBefore reports white space or a comment before the token.
	spaceBefore bool
}

// lexer splits SQL text into tokens. Errors become tokError tokens.
type lexer struct {
	src string
	pos int
}

// threeOps, twoOps and oneOps are the operator spellings, longest first.
var (
	threeOps = []string{"->>"}
	twoOps   = []string{"->", "::", "||", "&&", "<>", "!=", "<=", ">=", "<<", ">>"}
	oneOps   = "=<>+-*/%&|^(),.;[]~"
)

func (l *lexer) next() token {
	space := l.skipSpace()
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, span: Span{len(l.src), len(l.src)}, spaceBefore: space}
	}
	start := l.pos
	t := l.scan()
	t.span = Span{start, l.pos}
	t.spaceBefore = space
	return t
}

// skipSpace skips white space and comments; it reports whether any.
func (l *lexer) skipSpace() bool {
	start := l.pos
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == '-' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '-':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '*':
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				l.pos = len(l.src)
			} else {
				l.pos += end + 4
			}
		default:
			return l.pos > start
		}
	}
	return l.pos > start
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= utf8.RuneSelf
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '$'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (l *lexer) scan() token {
	c := l.src[l.pos]
	switch {
	case (c == 'x' || c == 'X') && l.pos+1 < len(l.src) && l.src[l.pos+1] == '\'':
		l.pos++
		s, ok := l.quoted('\'')
		if !ok {
			return token{kind: tokError, text: "unterminated blob literal"}
		}
		return token{kind: tokBlob, text: s}
	case (c == 'e' || c == 'E') && l.pos+1 < len(l.src) && l.src[l.pos+1] == '\'':
		return token{kind: tokError, text: "escape string literals (E'...') are not supported"}
	case isIdentStart(c):
		start := l.pos
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokIdent, text: l.src[start:l.pos]}
	case isDigit(c) || (c == '.' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1])):
		return l.number()
	case c == '\'':
		s, ok := l.quoted('\'')
		if !ok {
			return token{kind: tokError, text: "unterminated string literal"}
		}
		return token{kind: tokString, text: s}
	case c == '"':
		s, ok := l.quoted('"')
		if !ok {
			return token{kind: tokError, text: "unterminated quoted identifier"}
		}
		if s == "" {
			return token{kind: tokError, text: "zero-length quoted identifier"}
		}
		return token{kind: tokQuotedIdent, text: s}
	case c == '$' && l.pos+1 < len(l.src) && isDigit(l.src[l.pos+1]):
		start := l.pos
		l.pos++
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokParam, text: l.src[start:l.pos]}
	}
	rest := l.src[l.pos:]
	for _, op := range threeOps {
		if strings.HasPrefix(rest, op) {
			l.pos += len(op)
			return token{kind: tokOp, text: op}
		}
	}
	for _, op := range twoOps {
		if strings.HasPrefix(rest, op) {
			l.pos += len(op)
			if op == "<>" {
				op = "!="
			}
			return token{kind: tokOp, text: op}
		}
	}
	if strings.IndexByte(oneOps, c) >= 0 {
		l.pos++
		return token{kind: tokOp, text: string(c)}
	}
	_, size := utf8.DecodeRuneInString(rest)
	l.pos += size
	return token{kind: tokError, text: "unexpected character " + quoteForMessage(rest[:size])}
}

func quoteForMessage(s string) string {
	return "'" + s + "'"
}

// quoted reads a quoted string starting at the opening quote q; a doubled
// quote stands for one.
func (l *lexer) quoted(q byte) (string, bool) {
	l.pos++
	var b strings.Builder
	start := l.pos
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		if c == q {
			if l.pos+1 < len(l.src) && l.src[l.pos+1] == q {
				b.WriteString(l.src[start : l.pos+1])
				l.pos += 2
				start = l.pos
				continue
			}
			b.WriteString(l.src[start:l.pos])
			l.pos++
			return b.String(), true
		}
		l.pos++
	}
	return "", false
}

func (l *lexer) number() token {
	start := l.pos
	for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
		l.pos++
	}
	if l.pos < len(l.src) && l.src[l.pos] == '.' {
		l.pos++
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.pos++
		}
	}
	if l.pos < len(l.src) && (l.src[l.pos] == 'e' || l.src[l.pos] == 'E') {
		save := l.pos
		l.pos++
		if l.pos < len(l.src) && (l.src[l.pos] == '+' || l.src[l.pos] == '-') {
			l.pos++
		}
		if l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
				l.pos++
			}
		} else {
			l.pos = save
		}
	}
	if l.pos < len(l.src) && isIdentStart(l.src[l.pos]) {
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		return token{kind: tokError, text: "invalid number " + quoteForMessage(l.src[start:l.pos])}
	}
	return token{kind: tokNumber, text: l.src[start:l.pos]}
}
