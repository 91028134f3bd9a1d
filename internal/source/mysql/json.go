package mysql

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MySQL stores JSON columns in a binary form (MariaDB stores them as text).
// The binlog carries that form, the text protocol MySQL's rendering of it.
// Both are brought to one canonical JSON text so a row reads the same from
// the snapshot and from the binlog: objects and arrays spaced as MySQL
// prints them ({"a": [1, 2]}), keys in stored order, integers as digits,
// other numbers as the shortest float64 text, strings re-escaped.

var errJSON = errors.New("malformed MySQL binary JSON")

// Binary JSON value types.
const (
	jsonSmallObject = 0x00
	jsonLargeObject = 0x01
	jsonSmallArray  = 0x02
	jsonLargeArray  = 0x03
	jsonLiteral     = 0x04
	jsonInt16       = 0x05
	jsonUint16      = 0x06
	jsonInt32       = 0x07
	jsonUint32      = 0x08
	jsonInt64       = 0x09
	jsonUint64      = 0x0a
	jsonDouble      = 0x0b
	jsonString      = 0x0c
	jsonOpaque      = 0x0f
)

// decodeBinaryJSON renders a binary JSON document as canonical JSON text.
func decodeBinaryJSON(b []byte) (string, error) {
	if len(b) == 0 {
		return "null", nil // an empty value is JSON null (a partial update artefact)
	}
	var sb strings.Builder
	if err := appendJSONValue(&sb, b[0], b[1:], 0); err != nil {
		return "", err
	}
	return sb.String(), nil
}

// appendJSONValue writes the value of type typ stored at data.
func appendJSONValue(sb *strings.Builder, typ byte, data []byte, depth int) error {
	if depth > 100 {
		return fmt.Errorf("%w: nested too deep", errJSON)
	}
	switch typ {
	case jsonSmallObject, jsonLargeObject:
		return appendJSONContainer(sb, data, typ == jsonLargeObject, true, depth)
	case jsonSmallArray, jsonLargeArray:
		return appendJSONContainer(sb, data, typ == jsonLargeArray, false, depth)
	case jsonLiteral:
		if len(data) < 1 {
			return errJSON
		}
		switch data[0] {
		case 0:
			sb.WriteString("null")
		case 1:
			sb.WriteString("true")
		case 2:
			sb.WriteString("false")
		default:
			return errJSON
		}
	case jsonInt16:
		if len(data) < 2 {
			return errJSON
		}
		sb.WriteString(strconv.FormatInt(int64(int16(binary.LittleEndian.Uint16(data))), 10))
	case jsonUint16:
		if len(data) < 2 {
			return errJSON
		}
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint16(data)), 10))
	case jsonInt32:
		if len(data) < 4 {
			return errJSON
		}
		sb.WriteString(strconv.FormatInt(int64(int32(binary.LittleEndian.Uint32(data))), 10))
	case jsonUint32:
		if len(data) < 4 {
			return errJSON
		}
		sb.WriteString(strconv.FormatUint(uint64(binary.LittleEndian.Uint32(data)), 10))
	case jsonInt64:
		if len(data) < 8 {
			return errJSON
		}
		sb.WriteString(strconv.FormatInt(int64(binary.LittleEndian.Uint64(data)), 10))
	case jsonUint64:
		if len(data) < 8 {
			return errJSON
		}
		sb.WriteString(strconv.FormatUint(binary.LittleEndian.Uint64(data), 10))
	case jsonDouble:
		if len(data) < 8 {
			return errJSON
		}
		sb.WriteString(jsonFloat(math.Float64frombits(binary.LittleEndian.Uint64(data))))
	case jsonString:
		n, k := readJSONLength(data)
		if k == 0 || len(data) < k+n {
			return errJSON
		}
		appendJSONString(sb, string(data[k:k+n]))
	case jsonOpaque:
		if len(data) < 1 {
			return errJSON
		}
		field := data[0]
		n, k := readJSONLength(data[1:])
		if k == 0 || len(data) < 1+k+n {
			return errJSON
		}
		return appendJSONOpaque(sb, field, data[1+k:1+k+n])
	default:
		return fmt.Errorf("%w: value type %d", errJSON, typ)
	}
	return nil
}

// appendJSONContainer writes an object or array: element count and byte
// size, then (objects) key entries, then value entries, each an inline
// small value or an offset from the container's start.
func appendJSONContainer(sb *strings.Builder, data []byte, large, object bool, depth int) error {
	w := 2
	if large {
		w = 4
	}
	rd := func(off int) (int, bool) {
		if off < 0 || off+w > len(data) {
			return 0, false
		}
		if large {
			return int(binary.LittleEndian.Uint32(data[off:])), true
		}
		return int(binary.LittleEndian.Uint16(data[off:])), true
	}
	count, ok1 := rd(0)
	size, ok2 := rd(w)
	if !ok1 || !ok2 || size > len(data) || count > size {
		return errJSON
	}
	data = data[:size]
	keyEntry := w + 2
	valueEntry := 1 + w
	pos := 2 * w
	keysAt := pos
	if object {
		pos += count * keyEntry
	}
	valuesAt := pos
	if valuesAt+count*valueEntry > len(data) {
		return errJSON
	}
	if object {
		sb.WriteByte('{')
	} else {
		sb.WriteByte('[')
	}
	for i := 0; i < count; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		if object {
			ke := keysAt + i*keyEntry
			koff, ok := rd(ke)
			if !ok || ke+w+2 > len(data) {
				return errJSON
			}
			klen := int(binary.LittleEndian.Uint16(data[ke+w:]))
			if koff+klen > len(data) {
				return errJSON
			}
			appendJSONString(sb, string(data[koff:koff+klen]))
			sb.WriteString(": ")
		}
		ve := valuesAt + i*valueEntry
		typ := data[ve]
		if inlineJSON(typ, large) {
			if err := appendJSONValue(sb, typ, data[ve+1:ve+1+w], depth+1); err != nil {
				return err
			}
			continue
		}
		off, ok := rd(ve + 1)
		if !ok || off >= len(data) {
			return errJSON
		}
		if err := appendJSONValue(sb, typ, data[off:], depth+1); err != nil {
			return err
		}
	}
	if object {
		sb.WriteByte('}')
	} else {
		sb.WriteByte(']')
	}
	return nil
}

// inlineJSON reports whether a value of typ is stored in its value entry.
func inlineJSON(typ byte, large bool) bool {
	switch typ {
	case jsonLiteral, jsonInt16, jsonUint16:
		return true
	case jsonInt32, jsonUint32:
		return large
	}
	return false
}

// readJSONLength reads a variable-length size: 7 bits per byte, low
// first, the high bit set on every byte but the last.
func readJSONLength(b []byte) (int, int) {
	n := 0
	for i := 0; i < 5 && i < len(b); i++ {
		n |= int(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return n, i + 1
		}
	}
	return 0, 0
}

// appendJSONOpaque writes a MySQL value embedded in JSON: DECIMAL as a
// number, temporal values as MySQL prints them, anything else as MySQL's
// "base64:typeN:" string.
func appendJSONOpaque(sb *strings.Builder, field byte, data []byte) error {
	switch field {
	case typeNewDecimal:
		if len(data) < 2 {
			return errJSON
		}
		s, _, err := decodeDecimal(data[2:], int(data[0]), int(data[1]))
		if err != nil {
			return fmt.Errorf("%w: %v", errJSON, err)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errJSON
		}
		sb.WriteString(jsonFloat(f))
		return nil
	case typeDate, typeDateTime, typeTimestamp, typeDateTime2, typeTimestamp2, typeTime, typeTime2:
		if len(data) < 8 {
			return errJSON
		}
		appendJSONString(sb, packedTemporal(field, int64(binary.LittleEndian.Uint64(data))))
		return nil
	}
	appendJSONString(sb, fmt.Sprintf("base64:type%d:%s", field, base64.StdEncoding.EncodeToString(data)))
	return nil
}

// packedTemporal renders MySQL's packed in-memory temporal integer.
func packedTemporal(field byte, v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	frac := v % (1 << 24)
	ip := v >> 24
	switch field {
	case typeTime, typeTime2:
		h, m, s := (ip>>12)%(1<<10), (ip>>6)%(1<<6), ip%(1<<6)
		return formatTime(neg, int(h), int(m), int(s), int(frac), 6)
	}
	ymd, hms := ip>>17, ip%(1<<17)
	ym := ymd >> 5
	t := dateTime{year: int(ym / 13), month: int(ym % 13), day: int(ymd % (1 << 5)),
		hour: int(hms >> 12), minute: int((hms >> 6) % (1 << 6)), second: int(hms % (1 << 6)), micro: int(frac)}
	if field == typeDate {
		return t.date()
	}
	return fmt.Sprintf("%s %02d:%02d:%02d.%06d", t.date(), t.hour, t.minute, t.second, t.micro)
}

// jsonFloat is the canonical text of a non-integer JSON number.
func jsonFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "null"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func appendJSONString(sb *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	sb.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				sb.WriteByte('\\')
				sb.WriteByte(c)
			case c == '\n':
				sb.WriteString(`\n`)
			case c == '\r':
				sb.WriteString(`\r`)
			case c == '\t':
				sb.WriteString(`\t`)
			case c < 0x20:
				sb.WriteString(`\u00`)
				sb.WriteByte(hex[c>>4])
				sb.WriteByte(hex[c&15])
			default:
				sb.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteString(`\ufffd`)
		} else {
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	sb.WriteByte('"')
}

// canonicalJSON rewrites MySQL's text rendering of a JSON value (from the
// text protocol) into the canonical form decodeBinaryJSON produces.
func canonicalJSON(s string) (string, error) {
	p := jsonParser{s: s}
	var sb strings.Builder
	if err := p.value(&sb, 0); err != nil {
		return "", err
	}
	p.space()
	if p.i != len(p.s) {
		return "", fmt.Errorf("%w: trailing text", errJSON)
	}
	return sb.String(), nil
}

type jsonParser struct {
	s string
	i int
}

func (p *jsonParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *jsonParser) value(sb *strings.Builder, depth int) error {
	if depth > 100 {
		return fmt.Errorf("%w: nested too deep", errJSON)
	}
	p.space()
	if p.i >= len(p.s) {
		return errJSON
	}
	switch c := p.s[p.i]; {
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		sb.WriteByte(c)
		p.i++
		p.space()
		if p.i < len(p.s) && p.s[p.i] == closer {
			p.i++
			sb.WriteByte(closer)
			return nil
		}
		for n := 0; ; n++ {
			if n > 0 {
				sb.WriteString(", ")
			}
			if c == '{' {
				p.space()
				if p.i >= len(p.s) || p.s[p.i] != '"' {
					return errJSON
				}
				if err := p.str(sb); err != nil {
					return err
				}
				p.space()
				if p.i >= len(p.s) || p.s[p.i] != ':' {
					return errJSON
				}
				p.i++
				sb.WriteString(": ")
			}
			if err := p.value(sb, depth+1); err != nil {
				return err
			}
			p.space()
			if p.i >= len(p.s) {
				return errJSON
			}
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.s[p.i] != closer {
				return errJSON
			}
			p.i++
			sb.WriteByte(closer)
			return nil
		}
	case c == '"':
		return p.str(sb)
	case strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
		sb.WriteString("true")
	case strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
		sb.WriteString("false")
	case strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
		sb.WriteString("null")
	default:
		j := p.i
		for j < len(p.s) && strings.IndexByte("+-0123456789.eE", p.s[j]) >= 0 {
			j++
		}
		num := p.s[p.i:j]
		if num == "" {
			return errJSON
		}
		p.i = j
		if strings.ContainsAny(num, ".eE") {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return errJSON
			}
			sb.WriteString(jsonFloat(f))
			return nil
		}
		if _, err := strconv.ParseInt(num, 10, 64); err != nil {
			if _, err := strconv.ParseUint(num, 10, 64); err != nil {
				return errJSON
			}
		}
		sb.WriteString(num)
	}
	return nil
}

// str reads a JSON string and writes it re-escaped.
func (p *jsonParser) str(sb *strings.Builder) error {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			appendJSONString(sb, b.String())
			return nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return errJSON
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if p.i+4 > len(p.s) {
					return errJSON
				}
				r, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
				if err != nil {
					return errJSON
				}
				p.i += 4
				if r >= 0xd800 && r < 0xdc00 && p.i+6 <= len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
					if lo, err := strconv.ParseUint(p.s[p.i+2:p.i+6], 16, 32); err == nil && lo >= 0xdc00 && lo < 0xe000 {
						r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
						p.i += 6
					}
				}
				b.WriteRune(rune(r))
			default:
				return errJSON
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return errJSON
}
