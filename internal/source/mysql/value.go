package mysql

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// Binary log column types (protocol: enum_field_types).
const (
	typeDecimal    = 0
	typeTiny       = 1
	typeShort      = 2
	typeLong       = 3
	typeFloat      = 4
	typeDouble     = 5
	typeNull       = 6
	typeTimestamp  = 7
	typeLongLong   = 8
	typeInt24      = 9
	typeDate       = 10
	typeTime       = 11
	typeDateTime   = 12
	typeYear       = 13
	typeNewDate    = 14
	typeVarchar    = 15
	typeBit        = 16
	typeTimestamp2 = 17
	typeDateTime2  = 18
	typeTime2      = 19
	typeJSON       = 245
	typeNewDecimal = 246
	typeEnum       = 247
	typeSet        = 248
	typeTinyBlob   = 249
	typeMediumBlob = 250
	typeLongBlob   = 251
	typeBlob       = 252
	typeVarString  = 253
	typeString     = 254
	typeGeometry   = 255
)

// column is one column of a table as both the snapshot and the change
// stream see it. The schema fields come from information_schema.COLUMNS;
// the binlog fields from the table map event.
type column struct {
	name string
	// dataType is information_schema's DATA_TYPE, lower case (int, varchar,
	// datetime, enum, uuid, ...).
	dataType string
	unsigned bool
	// binary: a binary string type (BINARY, VARBINARY, BLOB) or a binary
	// charset, synced as BLOB.
	binary bool
	// fsp is the fractional seconds precision of temporal types.
	fsp int
	// octets is the byte length of a BINARY(n) column (its values are
	// right-padded with zero bytes).
	octets int
	labels []string // ENUM and SET members in definition order

	// From the table map event.
	typ  byte
	meta uint16
}

// decoder turns values into the sync rules value model the same way for
// snapshot rows (text protocol) and binlog rows (binary row images), so a
// row's key and values do not depend on which path read it.
type decoder struct {
	// iso selects six fraction digits for columns with more than
	// millisecond precision; otherwise timestamps have milliseconds.
	iso bool
}

// text converts a value of the text protocol.
func (d decoder) text(c *column, s []byte) (sqlvalue.Value, error) {
	switch c.dataType {
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint":
		if c.unsigned {
			u, err := strconv.ParseUint(string(s), 10, 64)
			if err != nil {
				return sqlvalue.Null, fmt.Errorf("column %s: %w", c.name, err)
			}
			return unsignedValue(u), nil
		}
		i, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return sqlvalue.Null, fmt.Errorf("column %s: %w", c.name, err)
		}
		return sqlvalue.Int(i), nil
	case "year":
		i, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return sqlvalue.Null, fmt.Errorf("column %s: %w", c.name, err)
		}
		return sqlvalue.Int(i), nil
	case "float":
		f, err := strconv.ParseFloat(string(s), 32)
		if err != nil {
			return sqlvalue.Null, fmt.Errorf("column %s: %w", c.name, err)
		}
		return sqlvalue.Real(float64(float32(f))), nil
	case "double", "real":
		f, err := strconv.ParseFloat(string(s), 64)
		if err != nil {
			return sqlvalue.Null, fmt.Errorf("column %s: %w", c.name, err)
		}
		return sqlvalue.Real(f), nil
	case "bit":
		var u uint64
		for _, b := range s {
			u = u<<8 | uint64(b)
		}
		return unsignedValue(u), nil
	case "date":
		t, ok := parseDateTime(string(s))
		if !ok {
			return sqlvalue.Null, nil
		}
		return sqlvalue.Text(t.date()), nil
	case "datetime", "timestamp":
		t, ok := parseDateTime(string(s))
		if !ok {
			return sqlvalue.Null, nil
		}
		return sqlvalue.Text(d.timestamp(t, c.fsp)), nil
	case "json":
		// MySQL's JSON type (MariaDB's JSON is a LONGTEXT and stays as
		// stored): the canonical text the binlog decoder also produces.
		j, err := canonicalJSON(string(s))
		if err != nil {
			return sqlvalue.Null, fmt.Errorf("column %s: %w", c.name, err)
		}
		return sqlvalue.Text(j), nil
	case "binary":
		if len(s) < c.octets {
			p := make([]byte, c.octets)
			copy(p, s)
			s = p
		}
		return sqlvalue.Blob(s), nil
	}
	if c.binary || isGeometry(c.dataType) {
		return sqlvalue.Blob(s), nil
	}
	// Text of every other type as the server prints it: strings, decimal,
	// time, enum, set, json, uuid, inet4/inet6.
	return sqlvalue.Text(string(s)), nil
}

func unsignedValue(u uint64) sqlvalue.Value {
	if u > math.MaxInt64 {
		// Beyond SQLite's INTEGER: the exact digits as TEXT.
		return sqlvalue.Text(strconv.FormatUint(u, 10))
	}
	return sqlvalue.Int(int64(u))
}

func isGeometry(t string) bool {
	switch t {
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
		"geometrycollection", "geomcollection":
		return true
	}
	return false
}

// dateTime is a broken-down DATE, DATETIME or TIMESTAMP.
type dateTime struct {
	year, month, day, hour, minute, second, micro int
}

// parseDateTime parses "YYYY-MM-DD[ hh:mm:ss[.ffffff]]"; a zero date
// ("0000-00-00", allowed by lax SQL modes) is not a date.
func parseDateTime(s string) (dateTime, bool) {
	var t dateTime
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return t, false
	}
	var err error
	num := func(x string) int {
		n, e := strconv.Atoi(x)
		if e != nil {
			err = e
		}
		return n
	}
	t.year, t.month, t.day = num(s[0:4]), num(s[5:7]), num(s[8:10])
	if len(s) >= 19 {
		t.hour, t.minute, t.second = num(s[11:13]), num(s[14:16]), num(s[17:19])
		if len(s) > 20 && s[19] == '.' {
			f := s[20:]
			if len(f) > 6 {
				f = f[:6]
			}
			t.micro = num(f + strings.Repeat("0", 6-len(f)))
		}
	}
	if err != nil || t.month == 0 || t.day == 0 {
		return t, false
	}
	return t, true
}

func (t dateTime) date() string {
	return fmt.Sprintf("%04d-%02d-%02d", t.year, t.month, t.day)
}

// timestamp formats a DATETIME or TIMESTAMP (both UTC: the source session
// runs with time_zone '+00:00') as ISO 8601 with a Z, like the reference
// (YYYY-MM-DDThh:mm:ss.sssZ). Milliseconds by default; with the ISO 8601
// compatibility option a column with more than millisecond precision keeps
// its microseconds.
func (d decoder) timestamp(t dateTime, fsp int) string {
	digits, frac := 3, t.micro/1000
	if d.iso && fsp > 3 {
		digits, frac = 6, t.micro
	}
	return fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%0*dZ", t.year, t.month, t.day, t.hour, t.minute, t.second, digits, frac)
}

// formatTime formats a TIME as the server prints it: [-]hh:mm:ss with fsp
// fraction digits.
func formatTime(neg bool, h, m, s, micro, fsp int) string {
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	fmt.Fprintf(&b, "%02d:%02d:%02d", h, m, s)
	if fsp > 0 {
		f := fmt.Sprintf("%06d", micro)
		b.WriteByte('.')
		b.WriteString(f[:fsp])
	}
	return b.String()
}

// errShort is a row image that ended inside a value.
var errShort = fmt.Errorf("row image ends inside a value")

// binlogValue decodes one value of a binlog row image at b, returning the
// value and the bytes it used.
func (d decoder) binlogValue(c *column, b []byte) (sqlvalue.Value, int, error) {
	need := func(n int) error {
		if n < 0 || len(b) < n {
			return errShort
		}
		return nil
	}
	switch c.typ {
	case typeTiny:
		if err := need(1); err != nil {
			return sqlvalue.Null, 0, err
		}
		if c.unsigned {
			return sqlvalue.Int(int64(b[0])), 1, nil
		}
		return sqlvalue.Int(int64(int8(b[0]))), 1, nil
	case typeShort:
		if err := need(2); err != nil {
			return sqlvalue.Null, 0, err
		}
		v := binary.LittleEndian.Uint16(b)
		if c.unsigned {
			return sqlvalue.Int(int64(v)), 2, nil
		}
		return sqlvalue.Int(int64(int16(v))), 2, nil
	case typeInt24:
		if err := need(3); err != nil {
			return sqlvalue.Null, 0, err
		}
		v := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		if !c.unsigned && v&0x800000 != 0 {
			return sqlvalue.Int(int64(v) - 1<<24), 3, nil
		}
		return sqlvalue.Int(int64(v)), 3, nil
	case typeLong:
		if err := need(4); err != nil {
			return sqlvalue.Null, 0, err
		}
		v := binary.LittleEndian.Uint32(b)
		if c.unsigned {
			return sqlvalue.Int(int64(v)), 4, nil
		}
		return sqlvalue.Int(int64(int32(v))), 4, nil
	case typeLongLong:
		if err := need(8); err != nil {
			return sqlvalue.Null, 0, err
		}
		v := binary.LittleEndian.Uint64(b)
		if c.unsigned {
			return unsignedValue(v), 8, nil
		}
		return sqlvalue.Int(int64(v)), 8, nil
	case typeFloat:
		if err := need(4); err != nil {
			return sqlvalue.Null, 0, err
		}
		return sqlvalue.Real(float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))), 4, nil
	case typeDouble:
		if err := need(8); err != nil {
			return sqlvalue.Null, 0, err
		}
		return sqlvalue.Real(math.Float64frombits(binary.LittleEndian.Uint64(b))), 8, nil
	case typeYear:
		if err := need(1); err != nil {
			return sqlvalue.Null, 0, err
		}
		if b[0] == 0 {
			return sqlvalue.Int(0), 1, nil
		}
		return sqlvalue.Int(1900 + int64(b[0])), 1, nil
	case typeNewDecimal:
		precision, scale := int(c.meta>>8), int(c.meta&0xff)
		s, n, err := decodeDecimal(b, precision, scale)
		if err != nil {
			return sqlvalue.Null, 0, err
		}
		return sqlvalue.Text(s), n, nil
	case typeDate, typeNewDate:
		if err := need(3); err != nil {
			return sqlvalue.Null, 0, err
		}
		v := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
		t := dateTime{year: int(v >> 9), month: int(v>>5) & 15, day: int(v & 31)}
		if t.month == 0 || t.day == 0 {
			return sqlvalue.Null, 3, nil
		}
		return sqlvalue.Text(t.date()), 3, nil
	case typeDateTime2:
		fsp := int(c.meta)
		n := 5 + (fsp+1)/2
		if err := need(n); err != nil {
			return sqlvalue.Null, 0, err
		}
		v := uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
		ip := int64(v) - 0x8000000000
		ymd, hms := ip>>17, ip&0x1ffff
		ym := ymd >> 5
		t := dateTime{year: int(ym / 13), month: int(ym % 13), day: int(ymd & 31),
			hour: int(hms >> 12), minute: int(hms>>6) & 63, second: int(hms & 63), micro: fracMicros(b[5:n], fsp)}
		if t.month == 0 || t.day == 0 {
			return sqlvalue.Null, n, nil
		}
		return sqlvalue.Text(d.timestamp(t, fsp)), n, nil
	case typeDateTime:
		if err := need(8); err != nil {
			return sqlvalue.Null, 0, err
		}
		v := binary.LittleEndian.Uint64(b)
		dpart, tpart := v/1000000, v%1000000
		t := dateTime{year: int(dpart / 10000), month: int(dpart/100) % 100, day: int(dpart % 100),
			hour: int(tpart / 10000), minute: int(tpart/100) % 100, second: int(tpart % 100)}
		if t.month == 0 || t.day == 0 {
			return sqlvalue.Null, 8, nil
		}
		return sqlvalue.Text(d.timestamp(t, 0)), 8, nil
	case typeTimestamp2:
		fsp := int(c.meta)
		n := 4 + (fsp+1)/2
		if err := need(n); err != nil {
			return sqlvalue.Null, 0, err
		}
		secs := binary.BigEndian.Uint32(b)
		if secs == 0 {
			return sqlvalue.Null, n, nil
		}
		return sqlvalue.Text(d.timestamp(unixDateTime(int64(secs), fracMicros(b[4:n], fsp)), fsp)), n, nil
	case typeTimestamp:
		if err := need(4); err != nil {
			return sqlvalue.Null, 0, err
		}
		secs := binary.LittleEndian.Uint32(b)
		if secs == 0 {
			return sqlvalue.Null, 4, nil
		}
		return sqlvalue.Text(d.timestamp(unixDateTime(int64(secs), 0), 0)), 4, nil
	case typeTime2:
		fsp := int(c.meta)
		n := 3 + (fsp+1)/2
		if err := need(n); err != nil {
			return sqlvalue.Null, 0, err
		}
		return sqlvalue.Text(decodeTime2(b[:n], fsp)), n, nil
	case typeTime:
		if err := need(3); err != nil {
			return sqlvalue.Null, 0, err
		}
		v := int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16)
		if v&0x800000 != 0 {
			v -= 1 << 24
		}
		neg := v < 0
		if neg {
			v = -v
		}
		return sqlvalue.Text(formatTime(neg, int(v/10000), int(v/100)%100, int(v%100), 0, 0)), 3, nil
	case typeBit:
		nbytes := int(c.meta>>8) + boolInt(c.meta&0xff != 0)
		if err := need(nbytes); err != nil {
			return sqlvalue.Null, 0, err
		}
		var u uint64
		for _, x := range b[:nbytes] {
			u = u<<8 | uint64(x)
		}
		return unsignedValue(u), nbytes, nil
	case typeEnum:
		size := int(c.meta & 0xff)
		if size != 1 && size != 2 {
			return sqlvalue.Null, 0, fmt.Errorf("ENUM value of %d bytes", size)
		}
		if err := need(size); err != nil {
			return sqlvalue.Null, 0, err
		}
		var idx int
		if size == 1 {
			idx = int(b[0])
		} else {
			idx = int(binary.LittleEndian.Uint16(b))
		}
		if idx == 0 || idx > len(c.labels) {
			return sqlvalue.Text(""), size, nil
		}
		return sqlvalue.Text(c.labels[idx-1]), size, nil
	case typeSet:
		size := int(c.meta & 0xff)
		if err := need(size); err != nil || size > 8 {
			if err == nil {
				err = fmt.Errorf("SET value of %d bytes", size)
			}
			return sqlvalue.Null, 0, err
		}
		var bits uint64
		for i := size - 1; i >= 0; i-- {
			bits = bits<<8 | uint64(b[i])
		}
		var parts []string
		for i, l := range c.labels {
			if bits&(1<<uint(i)) != 0 {
				parts = append(parts, l)
			}
		}
		return sqlvalue.Text(strings.Join(parts, ",")), size, nil
	case typeVarchar, typeVarString:
		lenBytes := 1
		if c.meta > 255 {
			lenBytes = 2
		}
		return d.lengthPrefixed(c, b, lenBytes)
	case typeString:
		lenBytes := 1
		if c.meta > 255 {
			lenBytes = 2
		}
		return d.lengthPrefixed(c, b, lenBytes)
	case typeBlob, typeTinyBlob, typeMediumBlob, typeLongBlob, typeGeometry, typeJSON:
		return d.lengthPrefixed(c, b, int(c.meta))
	case typeNull:
		return sqlvalue.Null, 0, nil
	}
	return sqlvalue.Null, 0, fmt.Errorf("column %s: binlog column type %d is not supported", c.name, c.typ)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// lengthPrefixed decodes a value stored as an n-byte little-endian length
// and the bytes.
func (d decoder) lengthPrefixed(c *column, b []byte, n int) (sqlvalue.Value, int, error) {
	if n < 1 || n > 4 || len(b) < n {
		return sqlvalue.Null, 0, errShort
	}
	var l int
	for i := n - 1; i >= 0; i-- {
		l = l<<8 | int(b[i])
	}
	if len(b) < n+l {
		return sqlvalue.Null, 0, errShort
	}
	data := b[n : n+l]
	if c.typ == typeJSON {
		j, err := decodeBinaryJSON(data)
		if err != nil {
			return sqlvalue.Null, 0, fmt.Errorf("column %s: %w", c.name, err)
		}
		return sqlvalue.Text(j), n + l, nil
	}
	v, err := d.binlogString(c, data)
	return v, n + l, err
}

// binlogString converts the bytes of a string, binary or geometry value
// like the text protocol's value of the same column.
func (d decoder) binlogString(c *column, data []byte) (sqlvalue.Value, error) {
	switch c.dataType {
	case "uuid":
		return sqlvalue.Text(formatUUID(data)), nil
	case "inet6":
		p := make([]byte, 16)
		copy(p, data)
		return sqlvalue.Text(formatInet6(p)), nil
	case "inet4":
		if len(data) <= 4 {
			var p [4]byte
			copy(p[:], data)
			return sqlvalue.Text(fmt.Sprintf("%d.%d.%d.%d", p[0], p[1], p[2], p[3])), nil
		}
	}
	return d.text(c, data)
}

// fracMicros reads the fractional seconds of a temporal2 value.
func fracMicros(b []byte, fsp int) int {
	switch (fsp + 1) / 2 {
	case 1:
		return int(b[0]) * 10000
	case 2:
		return int(binary.BigEndian.Uint16(b)) * 100
	case 3:
		return int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	}
	return 0
}

func unixDateTime(secs int64, micro int) dateTime {
	t := time.Unix(secs, 0).UTC()
	return dateTime{year: t.Year(), month: int(t.Month()), day: t.Day(), hour: t.Hour(), minute: t.Minute(), second: t.Second(), micro: micro}
}

// decodeTime2 decodes a TIME(fsp) in the MySQL 5.6 binary format.
func decodeTime2(b []byte, fsp int) string {
	intPart := int64(uint64(b[0])<<16|uint64(b[1])<<8|uint64(b[2])) - 0x800000
	var packed int64
	switch (fsp + 1) / 2 {
	case 0:
		packed = intPart << 24
	case 1:
		frac := int64(int8(b[3]))
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x100
		}
		packed = intPart<<24 + frac*10000
	case 2:
		frac := int64(int16(binary.BigEndian.Uint16(b[3:])))
		if intPart < 0 && frac != 0 {
			intPart++
			frac -= 0x10000
		}
		packed = intPart<<24 + frac*100
	case 3:
		v := int64(uint64(b[0])<<40|uint64(b[1])<<32|uint64(b[2])<<24|uint64(b[3])<<16|uint64(b[4])<<8|uint64(b[5])) - 0x800000000000
		packed = v
	}
	neg := packed < 0
	if neg {
		packed = -packed
	}
	hms := packed >> 24
	micro := int(packed % (1 << 24))
	return formatTime(neg, int(hms>>12)&0x3ff, int(hms>>6)&63, int(hms&63), micro, fsp)
}

// decodeDecimal decodes MySQL's binary DECIMAL(precision, scale): groups
// of nine decimal digits in four bytes, a shorter leading/trailing group,
// the sign in the top bit (negative values have every bit inverted). The
// text is the server's: no leading zeros, exactly scale fraction digits.
func decodeDecimal(b []byte, precision, scale int) (string, int, error) {
	dig2bytes := [10]int{0, 1, 1, 2, 2, 3, 3, 4, 4, 4}
	if precision <= 0 || scale < 0 || scale > precision {
		return "", 0, fmt.Errorf("invalid DECIMAL(%d,%d)", precision, scale)
	}
	intg := precision - scale
	intg0, intgX := intg/9, intg%9
	frac0, fracX := scale/9, scale%9
	size := intg0*4 + dig2bytes[intgX] + frac0*4 + dig2bytes[fracX]
	if len(b) < size {
		return "", 0, errShort
	}
	buf := make([]byte, size)
	copy(buf, b[:size])
	neg := buf[0]&0x80 == 0
	buf[0] ^= 0x80
	if neg {
		for i := range buf {
			buf[i] = ^buf[i]
		}
	}
	readN := func(p []byte) uint32 {
		var v uint32
		for _, x := range p {
			v = v<<8 | uint32(x)
		}
		return v
	}
	var ip strings.Builder
	pos := 0
	if n := dig2bytes[intgX]; n > 0 {
		ip.WriteString(strconv.FormatUint(uint64(readN(buf[pos:pos+n])), 10))
		pos += n
	}
	for i := 0; i < intg0; i++ {
		fmt.Fprintf(&ip, "%09d", readN(buf[pos:pos+4]))
		pos += 4
	}
	intStr := strings.TrimLeft(ip.String(), "0")
	if intStr == "" {
		intStr = "0"
	}
	var out strings.Builder
	if neg {
		out.WriteByte('-')
	}
	out.WriteString(intStr)
	if scale > 0 {
		out.WriteByte('.')
		for i := 0; i < frac0; i++ {
			fmt.Fprintf(&out, "%09d", readN(buf[pos:pos+4]))
			pos += 4
		}
		if n := dig2bytes[fracX]; n > 0 {
			fmt.Fprintf(&out, "%0*d", fracX, readN(buf[pos:pos+n]))
		}
	}
	return out.String(), size, nil
}

// formatUUID formats MariaDB's UUID type from its 16 bytes (the binary
// log drops trailing zero bytes; they are put back).
func formatUUID(b []byte) string {
	u := make([]byte, 16)
	copy(u, b)
	h := fmt.Sprintf("%x", u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// formatInet6 formats MariaDB's INET6 bytes as the server prints them.
func formatInet6(b []byte) string {
	// IPv4-mapped and IPv4-compatible addresses keep the dotted quad.
	allZero := func(p []byte) bool {
		for _, x := range p {
			if x != 0 {
				return false
			}
		}
		return true
	}
	if allZero(b[:10]) && (b[10] == 0xff && b[11] == 0xff) {
		return fmt.Sprintf("::ffff:%d.%d.%d.%d", b[12], b[13], b[14], b[15])
	}
	// Groups, with the longest run (two or more) of zero groups as "::".
	var g [8]uint16
	for i := range g {
		g[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	bestStart, bestLen := -1, 0
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > bestLen && j-i >= 2 {
			bestStart, bestLen = i, j-i
		}
		i = j
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if i == bestStart {
			sb.WriteString("::")
			i += bestLen - 1
			continue
		}
		if sb.Len() > 0 && !strings.HasSuffix(sb.String(), ":") {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(g[i]), 16))
	}
	return sb.String()
}
