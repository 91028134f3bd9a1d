package bson

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of objects and arrays in both directions.
const MaxDepth = 64

// ErrTooLarge is returned for a document over MaxDocumentSize.
var ErrTooLarge = errors.New("bson: document larger than 16 MiB")

// AppendJSON appends to dst the BSON document of the JSON object src (one
// object; surrounding whitespace is allowed). Object members keep their
// order, strings stay strings (escapes decoded, invalid UTF-8 replaced by
// U+FFFD), integers become int32 when they fit and int64 otherwise, other
// numbers become doubles, and arrays become BSON arrays. On error dst is
// returned unchanged in length.
func AppendJSON(dst, src []byte) ([]byte, error) {
	t := transcoder{src: src, dst: dst}
	t.skipSpace()
	if t.pos >= len(src) || src[t.pos] != '{' {
		return dst, t.errorf("a JSON object")
	}
	if err := t.object(); err != nil {
		return dst, err
	}
	t.skipSpace()
	if t.pos != len(src) {
		return dst, t.errorf("the end of the input")
	}
	if len(t.dst)-len(dst) > MaxDocumentSize {
		return dst, ErrTooLarge
	}
	return t.dst, nil
}

// transcoder reads JSON from src at pos and appends BSON to dst.
type transcoder struct {
	src   []byte
	pos   int
	dst   []byte
	depth int
}

// SyntaxError reports malformed JSON given to AppendJSON.
type SyntaxError struct {
	Offset int    // byte offset in the input
	Want   string // what was expected there
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("bson: invalid JSON at offset %d: want %s", e.Offset, e.Want)
}

func (t *transcoder) errorf(want string) error {
	return &SyntaxError{Offset: t.pos, Want: want}
}

func (t *transcoder) skipSpace() {
	for t.pos < len(t.src) {
		switch t.src[t.pos] {
		case ' ', '\t', '\n', '\r':
			t.pos++
		default:
			return
		}
	}
}

// object transcodes the object at pos (src[pos] == '{') into a document.
func (t *transcoder) object() error {
	if t.depth++; t.depth > MaxDepth {
		return t.errorf(fmt.Sprintf("at most %d levels of nesting", MaxDepth))
	}
	defer func() { t.depth-- }()
	t.pos++ // '{'
	var start int
	t.dst, start = StartDocument(t.dst)
	t.skipSpace()
	if t.pos < len(t.src) && t.src[t.pos] == '}' {
		t.pos++
		t.dst = EndDocument(t.dst, start)
		return nil
	}
	for {
		t.skipSpace()
		if t.pos >= len(t.src) || t.src[t.pos] != '"' {
			return t.errorf("a member name")
		}
		typePos := len(t.dst)
		t.dst = append(t.dst, 0)
		keyStart := len(t.dst)
		if err := t.str(); err != nil {
			return err
		}
		for _, c := range t.dst[keyStart:] {
			if c == 0 {
				return t.errorf("a member name without U+0000")
			}
		}
		t.dst = append(t.dst, 0)
		t.skipSpace()
		if t.pos >= len(t.src) || t.src[t.pos] != ':' {
			return t.errorf("':'")
		}
		t.pos++
		typ, err := t.value()
		if err != nil {
			return err
		}
		t.dst[typePos] = typ
		t.skipSpace()
		if t.pos >= len(t.src) {
			return t.errorf("',' or '}'")
		}
		switch t.src[t.pos] {
		case ',':
			t.pos++
		case '}':
			t.pos++
			t.dst = EndDocument(t.dst, start)
			return nil
		default:
			return t.errorf("',' or '}'")
		}
	}
}

// array transcodes the array at pos (src[pos] == '[').
func (t *transcoder) array() error {
	if t.depth++; t.depth > MaxDepth {
		return t.errorf(fmt.Sprintf("at most %d levels of nesting", MaxDepth))
	}
	defer func() { t.depth-- }()
	t.pos++ // '['
	var start int
	t.dst, start = StartDocument(t.dst)
	t.skipSpace()
	if t.pos < len(t.src) && t.src[t.pos] == ']' {
		t.pos++
		t.dst = EndDocument(t.dst, start)
		return nil
	}
	for i := 0; ; i++ {
		typePos := len(t.dst)
		t.dst = append(t.dst, 0)
		t.dst = append(t.dst, ArrayKey(i)...)
		t.dst = append(t.dst, 0)
		typ, err := t.value()
		if err != nil {
			return err
		}
		t.dst[typePos] = typ
		t.skipSpace()
		if t.pos >= len(t.src) {
			return t.errorf("',' or ']'")
		}
		switch t.src[t.pos] {
		case ',':
			t.pos++
		case ']':
			t.pos++
			t.dst = EndDocument(t.dst, start)
			return nil
		default:
			return t.errorf("',' or ']'")
		}
	}
}

// value appends the BSON value of the JSON value at pos and returns its
// element type.
func (t *transcoder) value() (byte, error) {
	t.skipSpace()
	if t.pos >= len(t.src) {
		return 0, t.errorf("a value")
	}
	switch c := t.src[t.pos]; {
	case c == '"':
		lenPos := len(t.dst)
		t.dst = append(t.dst, 0, 0, 0, 0)
		if err := t.str(); err != nil {
			return 0, err
		}
		t.dst = append(t.dst, 0)
		binary.LittleEndian.PutUint32(t.dst[lenPos:], uint32(len(t.dst)-lenPos-4))
		return TypeString, nil
	case c == '{':
		return TypeDocument, t.object()
	case c == '[':
		return TypeArray, t.array()
	case c == 't':
		if err := t.literal("true"); err != nil {
			return 0, err
		}
		t.dst = append(t.dst, 1)
		return TypeBool, nil
	case c == 'f':
		if err := t.literal("false"); err != nil {
			return 0, err
		}
		t.dst = append(t.dst, 0)
		return TypeBool, nil
	case c == 'n':
		return TypeNull, t.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return t.number()
	default:
		return 0, t.errorf("a value")
	}
}

func (t *transcoder) literal(word string) error {
	if len(t.src)-t.pos < len(word) || string(t.src[t.pos:t.pos+len(word)]) != word {
		return t.errorf(strconv.Quote(word))
	}
	t.pos += len(word)
	return nil
}

// number appends the JSON number at pos: an integer as int32 or int64, any
// other number (a fraction, an exponent, or an integer beyond int64) as a
// double.
func (t *transcoder) number() (byte, error) {
	s := t.src
	start := t.pos
	i := start
	neg := false
	if s[i] == '-' {
		neg = true
		i++
	}
	if i >= len(s) || s[i] < '0' || s[i] > '9' {
		t.pos = i
		return 0, t.errorf("a digit")
	}
	var u uint64
	overflow := false
	if s[i] == '0' {
		i++
	} else {
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			d := uint64(s[i] - '0')
			if u > (math.MaxUint64-d)/10 {
				overflow = true
			} else {
				u = u*10 + d
			}
		}
	}
	isFloat := false
	if i < len(s) && s[i] == '.' {
		isFloat = true
		i++
		j := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		if i == j {
			t.pos = i
			return 0, t.errorf("a digit after '.'")
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isFloat = true
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		}
		if i == j {
			t.pos = i
			return 0, t.errorf("a digit in the exponent")
		}
	}
	t.pos = i
	if !isFloat && !overflow {
		switch {
		case !neg && u <= math.MaxInt32, neg && u <= -math.MinInt32:
			v := int32(int64(u))
			if neg {
				v = int32(-int64(u))
			}
			t.dst = binary.LittleEndian.AppendUint32(t.dst, uint32(v))
			return TypeInt32, nil
		case !neg && u <= math.MaxInt64:
			t.dst = binary.LittleEndian.AppendUint64(t.dst, u)
			return TypeInt64, nil
		case neg && u <= 1<<63:
			t.dst = binary.LittleEndian.AppendUint64(t.dst, -u)
			return TypeInt64, nil
		}
	}
	f, err := strconv.ParseFloat(string(s[start:i]), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		t.pos = start
		return 0, t.errorf("a number")
	}
	t.dst = binary.LittleEndian.AppendUint64(t.dst, math.Float64bits(f))
	return TypeDouble, nil
}

// str appends the decoded contents of the JSON string at pos (without
// quotes or a terminator).
func (t *transcoder) str() error {
	s := t.src
	i := t.pos + 1
	start := i
	for i < len(s) {
		for i < len(s) && plain[s[i]] {
			i++
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		switch {
		case c == '"':
			t.dst = append(t.dst, s[start:i]...)
			t.pos = i + 1
			return nil
		case c == '\\':
			t.dst = append(t.dst, s[start:i]...)
			n, err := t.escape(i)
			if err != nil {
				return err
			}
			i += n
			start = i
		case c < 0x20:
			t.pos = i
			return t.errorf("no control character inside a string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				t.dst = append(t.dst, s[start:i]...)
				t.dst = utf8.AppendRune(t.dst, utf8.RuneError)
				i++
				start = i
				continue
			}
			i += size
		}
	}
	t.pos = i
	return t.errorf("the end of the string")
}

// escape appends the character of the escape sequence at s[i] == '\\' and
// returns its length.
func (t *transcoder) escape(i int) (int, error) {
	s := t.src
	if i+1 >= len(s) {
		t.pos = i
		return 0, t.errorf("an escape sequence")
	}
	var c byte
	switch s[i+1] {
	case '"', '\\', '/':
		c = s[i+1]
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r, ok := hex4(s, i+2)
		if !ok {
			t.pos = i
			return 0, t.errorf("four hex digits after \\u")
		}
		n := 6
		if r >= 0xD800 && r < 0xDC00 {
			// A high surrogate combines with a following low one; alone it
			// is replaced, as encoding/json does.
			if i+7 < len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
				if lo, ok := hex4(s, i+8); ok && lo >= 0xDC00 && lo < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					n = 12
				}
			}
		}
		t.dst = utf8.AppendRune(t.dst, r) // a lone surrogate becomes U+FFFD
		return n, nil
	default:
		t.pos = i
		return 0, t.errorf("a valid escape sequence")
	}
	t.dst = append(t.dst, c)
	return 2, nil
}

// plain marks the bytes a JSON string holds as themselves: printable ASCII
// other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}
