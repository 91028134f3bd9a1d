package syncrules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON in the sync rules engine is read with number literals kept as
// written (no fraction or exponent → INTEGER, otherwise REAL), object key
// order preserved and duplicate keys rejected, and written by three writers:
//
//   - bucket-id parameter arrays (appendBucketJSON): plain JavaScript
//     number formatting, so REAL 314.0 is written 314;
//   - row data (AppendRowJSON): REAL values that look like integers get
//     ".0" (REAL 1 → 1.0), as the reference's JSONBig does;
//   - lookup keys (appendLookupValue): integer-valued REALs are normalized
//     to INTEGER first so 314 and 314.0 produce the same key.
//
// All three escape strings like JavaScript's JSON.stringify (no HTML
// escaping; U+2028 and U+2029 are written raw).

// jsonKind is the type of a parsed JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonFalse
	jsonTrue
	jsonInt
	jsonReal
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is a parsed JSON document node.
type jsonValue struct {
	kind jsonKind
	i    int64
	f    float64
	s    string
	arr  []jsonValue
	keys []string // object keys in source order; values in arr
}

// maxJSONDepth bounds nesting when parsing, so hostile input cannot
// exhaust the stack.
const maxJSONDepth = 1000

var errJSONDepth = errors.New("JSON nested too deeply")

// parseJSON parses one JSON document.
func parseJSON(s string) (jsonValue, error) {
	p := jsonParser{s: s}
	p.skip()
	v, err := p.value(0)
	if err != nil {
		return jsonValue{}, err
	}
	p.skip()
	if p.i != len(p.s) {
		return jsonValue{}, p.errf("unexpected %q after JSON value", p.s[p.i])
	}
	return v, nil
}

type jsonParser struct {
	s string
	i int
}

func (p *jsonParser) errf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *jsonParser) skip() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) lit(word string, v jsonValue) (jsonValue, error) {
	if len(p.s)-p.i >= len(word) && p.s[p.i:p.i+len(word)] == word {
		p.i += len(word)
		return v, nil
	}
	return jsonValue{}, p.errf("unexpected character")
}

func (p *jsonParser) value(depth int) (jsonValue, error) {
	if depth > maxJSONDepth {
		return jsonValue{}, errJSONDepth
	}
	if p.i >= len(p.s) {
		return jsonValue{}, p.errf("unexpected end of input")
	}
	switch c := p.s[p.i]; {
	case c == 'n':
		return p.lit("null", jsonValue{kind: jsonNull})
	case c == 't':
		return p.lit("true", jsonValue{kind: jsonTrue})
	case c == 'f':
		return p.lit("false", jsonValue{kind: jsonFalse})
	case c == '"':
		str, err := p.str()
		return jsonValue{kind: jsonString, s: str}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == '[':
		p.i++
		v := jsonValue{kind: jsonArray, arr: []jsonValue{}}
		p.skip()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return v, nil
		}
		for {
			p.skip()
			e, err := p.value(depth + 1)
			if err != nil {
				return jsonValue{}, err
			}
			v.arr = append(v.arr, e)
			if done, err := p.afterElement(']'); done || err != nil {
				if err != nil {
					return jsonValue{}, err
				}
				return v, nil
			}
		}
	case c == '{':
		p.i++
		v := jsonValue{kind: jsonObject, arr: []jsonValue{}, keys: []string{}}
		p.skip()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return v, nil
		}
		for {
			p.skip()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				return jsonValue{}, p.errf("expected object key")
			}
			k, err := p.str()
			if err != nil {
				return jsonValue{}, err
			}
			for _, prev := range v.keys {
				if prev == k {
					return jsonValue{}, p.errf("duplicate key %q", k)
				}
			}
			p.skip()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return jsonValue{}, p.errf("expected :")
			}
			p.i++
			p.skip()
			e, err := p.value(depth + 1)
			if err != nil {
				return jsonValue{}, err
			}
			v.keys = append(v.keys, k)
			v.arr = append(v.arr, e)
			if done, err := p.afterElement('}'); done || err != nil {
				if err != nil {
					return jsonValue{}, err
				}
				return v, nil
			}
		}
	}
	return jsonValue{}, p.errf("unexpected character %q", p.s[p.i])
}

// afterElement reads what follows an array element or object member: a ","
// (more follow: false) or the closing byte (done: true).
func (p *jsonParser) afterElement(closing byte) (done bool, err error) {
	p.skip()
	if p.i >= len(p.s) {
		return false, p.errf("unexpected end of input")
	}
	switch p.s[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return false, p.errf("expected , or %c", closing)
}

func (p *jsonParser) number() (jsonValue, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == digits {
		return jsonValue{}, p.errf("invalid number")
	}
	if p.s[digits] == '0' && p.i-digits > 1 {
		return jsonValue{}, p.errf("invalid number (leading zero)")
	}
	isReal := false
	if p.i < len(p.s) && p.s[p.i] == '.' {
		isReal = true
		p.i++
		d := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return jsonValue{}, p.errf("invalid number")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		isReal = true
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		d := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return jsonValue{}, p.errf("invalid number")
		}
	}
	text := p.s[start:p.i]
	if !isReal {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return jsonValue{kind: jsonInt, i: n}, nil
		}
		// Beyond int64: kept as REAL (documented difference).
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return jsonValue{}, p.errf("invalid number")
	}
	return jsonValue{kind: jsonReal, f: f}, nil
}

func (p *jsonParser) str() (string, error) {
	p.i++ // opening quote
	start := p.i
	// Fast path: no escapes.
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '"' {
			s := p.s[start:p.i]
			p.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	buf := []byte(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
		case c < 0x20:
			return "", p.errf("control character in string")
		case c == '\\':
			p.i++
			if p.i >= len(p.s) {
				return "", p.errf("unexpected end of input")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.errf("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					if p.i+6 <= len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
						save := p.i
						p.i += 2
						r2, ok := p.hex4()
						if ok {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								buf = utf8.AppendRune(buf, d)
								continue
							}
						}
						p.i = save
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", p.errf("invalid escape")
			}
		default:
			buf = append(buf, c)
			p.i++
		}
	}
	return "", p.errf("unterminated string")
}

func (p *jsonParser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}

// toValue converts a parsed JSON node to a sync rules value: strings →
// TEXT, integers → INTEGER, other numbers → REAL, booleans → 1/0, objects
// and arrays → their JSON text (row-data style) and null → NULL.
func (j jsonValue) toValue() Value {
	switch j.kind {
	case jsonNull:
		return Null
	case jsonFalse:
		return Int(0)
	case jsonTrue:
		return Int(1)
	case jsonInt:
		return Int(j.i)
	case jsonReal:
		return Real(j.f)
	case jsonString:
		return Text(j.s)
	}
	return Text(string(j.appendJSON(nil)))
}

// get returns an object member or, for a numeric key, an array element.
func (j jsonValue) get(key string) (jsonValue, bool) {
	switch j.kind {
	case jsonObject:
		for i, k := range j.keys {
			if k == key {
				return j.arr[i], true
			}
		}
	case jsonArray:
		n, err := strconv.Atoi(key)
		if err == nil && n >= 0 && n < len(j.arr) && strconv.Itoa(n) == key {
			return j.arr[n], true
		}
	}
	return jsonValue{}, false
}

// appendJSON writes j back as JSON text, row-data style (REAL 42 → 42.0).
func (j jsonValue) appendJSON(dst []byte) []byte {
	switch j.kind {
	case jsonNull:
		return append(dst, "null"...)
	case jsonFalse:
		return append(dst, "false"...)
	case jsonTrue:
		return append(dst, "true"...)
	case jsonInt:
		return strconv.AppendInt(dst, j.i, 10)
	case jsonReal:
		return appendRowReal(dst, j.f)
	case jsonString:
		return appendJSONString(dst, j.s)
	case jsonArray:
		dst = append(dst, '[')
		for i, e := range j.arr {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.appendJSON(dst)
		}
		return append(dst, ']')
	}
	dst = append(dst, '{')
	for i, k := range j.keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = j.arr[i].appendJSON(dst)
	}
	return append(dst, '}')
}

// appendRowReal writes a REAL the way row data carries it: JavaScript
// number text with ".0" appended when that text looks like an integer.
// Non-finite numbers become null, as JSON.stringify writes them.
func appendRowReal(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	start := len(dst)
	dst = appendJSNumber(dst, f)
	for _, c := range dst[start:] {
		if c == '.' || c == 'e' {
			return dst
		}
	}
	return append(dst, '.', '0')
}

// appendPlainReal writes a REAL as JavaScript's JSON.stringify does.
func appendPlainReal(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return appendJSNumber(dst, f)
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the bytes a JSON string can carry unescaped (for bytes
// of 0x80 and above: when the string is valid UTF-8).
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString writes s as a JSON string literal, escaping like
// JavaScript's JSON.stringify. Invalid UTF-8 bytes become U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	// validity of the non-ASCII tail is checked once, at its first byte
	checked, valid := false, false
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf && jsonSafe[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf && !checked {
			checked, valid = true, utf8.ValidString(s[i:])
		}
		if c >= utf8.RuneSelf && valid {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendBucketValue writes one bucket parameter value of a bucket id:
// INTEGER digits, REAL as plain JavaScript number text, TEXT quoted, NULL
// as null. BLOBs never reach bucket ids.
func appendBucketValue(dst []byte, v Value) []byte {
	switch v.kind {
	case KindInteger:
		return strconv.AppendInt(dst, v.Int64(), 10)
	case KindReal:
		return appendPlainReal(dst, v.Float64())
	case KindText:
		return appendJSONString(dst, v.str)
	}
	return append(dst, "null"...)
}

// appendRowValue writes one output column value of row data.
func appendRowValue(dst []byte, v Value) []byte {
	if v.kind == KindReal {
		return appendRowReal(dst, v.Float64())
	}
	return appendBucketValue(dst, v)
}

// normalizeParameter turns an integer-valued REAL into INTEGER so that
// lookups for 314 and 314.0 meet.
func normalizeParameter(v Value) Value {
	if v.kind == KindReal {
		f := v.Float64()
		if f == math.Trunc(f) && f >= -9.2e18 && f <= 9.2e18 {
			return Int(int64(f))
		}
	}
	return v
}

// appendLookupValue writes one component of a canonical lookup key.
func appendLookupValue(dst []byte, v Value) []byte {
	return appendBucketValue(dst, normalizeParameter(v))
}

// Column is one output column of an evaluated row, in output order.
type Column struct {
	Name  string
	Value Value
}

// AppendRowJSON writes an output row as a JSON object in the reference's
// row-data format (column order kept, REAL 1 written 1.0, BLOBs left out).
func AppendRowJSON(dst []byte, cols []Column) []byte {
	dst = append(dst, '{')
	first := true
	for _, c := range cols {
		if c.Value.kind == KindBlob {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, c.Name)
		dst = append(dst, ':')
		dst = appendRowValue(dst, c.Value)
	}
	return append(dst, '}')
}

// ParseJSONValue parses a JSON scalar or document into a Value, as a
// source would for a JSON column read as a whole (objects and arrays stay
// JSON text).
func ParseJSONValue(s string) (Value, error) {
	j, err := parseJSON(s)
	if err != nil {
		return Null, err
	}
	return j.toValue(), nil
}
