package syncrules

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// JSON documents in the sync rules engine (claims, parameters, JSON
// columns read by the JSON functions) are read with number literals kept as
// written (no fraction or exponent → INTEGER, otherwise REAL), object key
// order preserved and duplicate keys rejected. They are written back with
// the writers of package sqlvalue.

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

// digits consumes a run of decimal digits and reports whether there was
// at least one.
func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	return p.i > start
}

func (p *jsonParser) number() (jsonValue, error) {
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits := p.i
	if !p.digits() {
		return jsonValue{}, p.errf("invalid number")
	}
	if p.s[digits] == '0' && p.i-digits > 1 {
		return jsonValue{}, p.errf("invalid number (leading zero)")
	}
	isReal := false
	if p.i < len(p.s) && p.s[p.i] == '.' {
		isReal = true
		p.i++
		if !p.digits() {
			return jsonValue{}, p.errf("invalid number")
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		isReal = true
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
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
func (j jsonValue) toValue() sqlvalue.Value {
	switch j.kind {
	case jsonNull:
		return sqlvalue.Null
	case jsonFalse:
		return sqlvalue.Int(0)
	case jsonTrue:
		return sqlvalue.Int(1)
	case jsonInt:
		return sqlvalue.Int(j.i)
	case jsonReal:
		return sqlvalue.Real(j.f)
	case jsonString:
		return sqlvalue.Text(j.s)
	}
	return sqlvalue.Text(string(j.appendJSON(nil)))
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
		return sqlvalue.AppendRowReal(dst, j.f)
	case jsonString:
		return sqlvalue.AppendJSONString(dst, j.s)
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
		dst = sqlvalue.AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = j.arr[i].appendJSON(dst)
	}
	return append(dst, '}')
}

// ParseJSONValue parses a JSON scalar or document into a Value, as a
// source would for a JSON column read as a whole (objects and arrays stay
// JSON text).
func ParseJSONValue(s string) (sqlvalue.Value, error) {
	j, err := parseJSON(s)
	if err != nil {
		return sqlvalue.Null, err
	}
	return j.toValue(), nil
}
