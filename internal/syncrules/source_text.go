package syncrules

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	yamltoken "github.com/goccy/go-yaml/token"

	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// This file maps positions inside YAML scalars back to the YAML file. SQL
// lives in YAML strings (plain, quoted or block scalars); a diagnostic at
// byte offset i of the SQL must point at the file line:col where that
// character was written, escapes and line folding included. Each scalar is
// decoded again from the raw file text, recording for every decoded byte
// the file offset it came from; when the re-decoding does not reproduce
// the YAML library's value exactly (an exotic form), every offset maps to
// the start of the scalar instead of a wrong place.

// srcFile is the raw text of a config file with its line starts.
type srcFile struct {
	text       string
	lineStarts []int
}

func newSrcFile(text string) *srcFile {
	f := &srcFile{text: text, lineStarts: []int{0}}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			f.lineStarts = append(f.lineStarts, i+1)
		}
	}
	return f
}

// position converts a byte offset to a 1-based line and a 1-based column
// counted in characters (runes).
func (f *srcFile) position(off int) (line, col int) {
	if off < 0 {
		off = 0
	}
	if off > len(f.text) {
		off = len(f.text)
	}
	lo, hi := 0, len(f.lineStarts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if f.lineStarts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	start := f.lineStarts[lo]
	return lo + 1, utf8.RuneCountInString(f.text[start:off]) + 1
}

// offset converts a 1-based line and rune column (as the YAML library
// reports them) to a byte offset.
func (f *srcFile) offset(line, col int) int {
	if line < 1 {
		return 0
	}
	if line > len(f.lineStarts) {
		return len(f.text)
	}
	off := f.lineStarts[line-1]
	for c := 1; c < col && off < len(f.text) && f.text[off] != '\n'; c++ {
		_, size := utf8.DecodeRuneInString(f.text[off:])
		off += size
	}
	return off
}

// Line returns the text of a 1-based line without its line break.
func (f *srcFile) Line(n int) string {
	if n < 1 || n > len(f.lineStarts) {
		return ""
	}
	start := f.lineStarts[n-1]
	end := len(f.text)
	if n < len(f.lineStarts) {
		end = f.lineStarts[n] - 1
	}
	return strings.TrimSuffix(f.text[start:end], "\r")
}

// tokenOffset is the byte offset of a token's first character.
func (f *srcFile) tokenOffset(tk *yamltoken.Token) int {
	if tk == nil || tk.Position == nil {
		return 0
	}
	return f.offset(tk.Position.Line, tk.Position.Column)
}

// nodeSpan is the file byte range of a node: its first token to the end of
// its value text (on the first line for multi-line values).
func (f *srcFile) nodeSpan(n ast.Node) (int, int) {
	if n == nil {
		return 0, 0
	}
	tk := n.GetToken()
	start := f.tokenOffset(tk)
	if lit, ok := n.(*ast.LiteralNode); ok {
		tk = lit.Start
	}
	end := start
	if tk != nil {
		raw := strings.TrimSpace(tk.Origin)
		if raw == "" {
			raw = tk.Value
		}
		if i := strings.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[:i]
		}
		end = start + len(raw)
	}
	if end > len(f.text) {
		end = len(f.text)
	}
	if end == start && end < len(f.text) {
		end++
	}
	return start, end
}

// sqlText is one SQL string from the YAML file together with the file
// offset of each of its bytes.
type sqlText struct {
	SQL     string
	file    *srcFile
	offsets []int // len(SQL)+1 entries; nil = all map to start
	start   int
}

// whole is the span of the entire SQL text, for diagnostics about the
// query as a whole.
func (s *sqlText) whole() syntax.Span { return syntax.Span{End: len(s.SQL)} }

// fileOffset maps a byte offset of SQL to a file byte offset.
func (s *sqlText) fileOffset(i int) int {
	if s.offsets == nil {
		return s.start
	}
	if i < 0 {
		i = 0
	}
	if i >= len(s.offsets) {
		i = len(s.offsets) - 1
	}
	return s.offsets[i]
}

// newSQLText decodes the scalar node n again from the file to map offsets.
func newSQLText(f *srcFile, n ast.Node, value string) *sqlText {
	s := &sqlText{SQL: value, file: f}
	var offs []int
	var decoded string
	switch n := n.(type) {
	case *ast.LiteralNode:
		s.start = f.tokenOffset(n.Start)
		decoded, offs = decodeBlock(f.text, s.start, n.Start.Value)
	case *ast.StringNode:
		s.start = f.tokenOffset(n.Token)
		switch n.Token.Type {
		case yamltoken.SingleQuoteType:
			decoded, offs = decodeQuoted(f.text, s.start, '\'')
		case yamltoken.DoubleQuoteType:
			decoded, offs = decodeQuoted(f.text, s.start, '"')
		default:
			decoded, offs = decodePlain(f.text, s.start, len(value))
		}
	default:
		if n != nil {
			s.start = f.tokenOffset(n.GetToken())
		}
	}
	if decoded == value && len(offs) == len(value) {
		end := s.start
		if len(offs) > 0 {
			end = offs[len(offs)-1] + 1
		}
		s.offsets = append(offs, end)
	}
	return s
}

// foldState implements YAML line folding for flow scalars (plain and
// quoted): trailing white space before a line break is dropped, a single
// break becomes a space, each further empty line a newline, and leading
// white space of continuation lines is skipped.
func foldBreak(src string, i int, out []byte, offs []int) (int, []byte, []int) {
	// drop trailing spaces already emitted
	for len(out) > 0 && (out[len(out)-1] == ' ' || out[len(out)-1] == '\t') {
		out, offs = out[:len(out)-1], offs[:len(offs)-1]
	}
	breakAt := i
	newlines := 0
	for i < len(src) {
		c := src[i]
		if c == '\n' {
			newlines++
			i++
		} else if c == ' ' || c == '\t' || c == '\r' {
			i++
		} else {
			break
		}
	}
	if newlines <= 1 {
		out, offs = append(out, ' '), append(offs, breakAt)
	} else {
		for k := 1; k < newlines; k++ {
			out, offs = append(out, '\n'), append(offs, breakAt)
		}
	}
	return i, out, offs
}

func decodeQuoted(src string, start int, q byte) (string, []int) {
	if start >= len(src) || src[start] != q {
		return "", nil
	}
	var out []byte
	var offs []int
	i := start + 1
	for i < len(src) {
		c := src[i]
		switch {
		case c == q && q == '\'' && i+1 < len(src) && src[i+1] == '\'':
			out, offs = append(out, '\''), append(offs, i)
			i += 2
		case c == q:
			return string(out), offs
		case c == '\n' || c == '\r':
			i, out, offs = foldBreak(src, i, out, offs)
		case c == '\\' && q == '"':
			if i+1 >= len(src) {
				return "", nil
			}
			e := src[i+1]
			if e == '\n' || e == '\r' {
				// escaped line break: join without a space
				i += 2
				for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
					i++
				}
				continue
			}
			var r rune
			n := 2
			switch e {
			case '0':
				r = 0
			case 'a':
				r = 7
			case 'b':
				r = 8
			case 't', '\t':
				r = 9
			case 'n':
				r = 10
			case 'v':
				r = 11
			case 'f':
				r = 12
			case 'r':
				r = 13
			case 'e':
				r = 27
			case ' ':
				r = ' '
			case '"':
				r = '"'
			case '/':
				r = '/'
			case '\\':
				r = '\\'
			case 'N':
				r = 0x85
			case '_':
				r = 0xa0
			case 'L':
				r = 0x2028
			case 'P':
				r = 0x2029
			case 'x', 'u', 'U':
				width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if i+2+width > len(src) {
					return "", nil
				}
				b, ok := decodeHexRune(src[i+2 : i+2+width])
				if !ok {
					return "", nil
				}
				r, n = b, 2+width
			default:
				return "", nil
			}
			before := len(out)
			out = utf8.AppendRune(out, r)
			for k := before; k < len(out); k++ {
				offs = append(offs, i)
			}
			i += n
		default:
			out, offs = append(out, c), append(offs, i)
			i++
		}
	}
	return "", nil
}

func decodeHexRune(s string) (rune, bool) {
	// s is the 2, 4 or 8 hex digits of a \x, \u or \U escape.
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

// decodePlain decodes a plain scalar of (decoded) length n.
func decodePlain(src string, start, n int) (string, []int) {
	var out []byte
	var offs []int
	i := start
	for i < len(src) && len(out) < n {
		c := src[i]
		if c == '\n' || c == '\r' {
			i, out, offs = foldBreak(src, i, out, offs)
			continue
		}
		out, offs = append(out, c), append(offs, i)
		i++
	}
	return string(out), offs
}

// decodeBlock decodes a literal (|) or folded (>) block scalar whose
// header indicator starts at start.
func decodeBlock(src string, start int, header string) (string, []int) {
	folded := strings.HasPrefix(header, ">")
	keep := strings.Contains(header, "+")
	strip := strings.Contains(header, "-")
	indent := 0
	for _, c := range header {
		if c >= '1' && c <= '9' {
			indent = int(c - '0')
		}
	}
	// Find the first content line.
	nl := strings.IndexByte(src[start:], '\n')
	if nl < 0 {
		return "", nil
	}
	i := start + nl + 1
	type line struct {
		start, end int // content range (after indentation)
		empty      bool
		more       bool // more indented (folded mode keeps breaks)
	}
	var lines []line
	baseIndent := -1
	if indent > 0 {
		// explicit indentation is relative to the parent; find it from the
		// header line's indentation.
		ls := strings.LastIndexByte(src[:start], '\n') + 1
		parent := 0
		for ls+parent < len(src) && src[ls+parent] == ' ' {
			parent++
		}
		baseIndent = parent + indent
	}
	for i < len(src) {
		end := strings.IndexByte(src[i:], '\n')
		lineEnd := len(src)
		if end >= 0 {
			lineEnd = i + end
		}
		text := strings.TrimRight(src[i:lineEnd], "\r")
		sp := 0
		for sp < len(text) && text[sp] == ' ' {
			sp++
		}
		if strings.TrimSpace(text) == "" {
			lines = append(lines, line{start: i + min(sp, max(baseIndent, 0)), end: i + len(text), empty: true})
		} else {
			if baseIndent < 0 {
				baseIndent = sp
			}
			if sp < baseIndent {
				break
			}
			lines = append(lines, line{start: i + baseIndent, end: i + len(text), more: sp > baseIndent || text[baseIndent] == '\t'})
		}
		if end < 0 {
			break
		}
		i = lineEnd + 1
	}
	// Trailing empty lines belong to chomping only.
	last := len(lines)
	for last > 0 && lines[last-1].empty {
		last--
	}
	var out []byte
	var offs []int
	for k := 0; k < last; k++ {
		l := lines[k]
		if !l.empty || !folded {
			for p := l.start; p < l.end; p++ {
				out, offs = append(out, src[p]), append(offs, p)
			}
		}
		if k == last-1 {
			break
		}
		// the break after this line
		if folded && !l.empty && !l.more && !lines[k+1].empty && !lines[k+1].more {
			out, offs = append(out, ' '), append(offs, l.end)
		} else if folded && !l.empty && !l.more && lines[k+1].empty {
			// a break followed by empty lines: the first break is dropped
			continue
		} else {
			out, offs = append(out, '\n'), append(offs, l.end)
		}
	}
	if last > 0 && !strip {
		endOff := lines[last-1].end
		out, offs = append(out, '\n'), append(offs, endOff)
		if keep {
			for k := last; k < len(lines); k++ {
				out, offs = append(out, '\n'), append(offs, lines[k].end)
			}
		}
	}
	return string(out), offs
}
