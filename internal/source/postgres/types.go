package postgres

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/protocol"
)

// Postgres type OIDs with their own conversion into the sync rules value
// model (sync-rules.md §4.3). Every other type (numeric, enums, interval,
// inet, composite and range types, ...) becomes TEXT holding the Postgres
// text form.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidPgLSN       = 3220
	oidJSONB       = 3802
)

// kind is how a column's text form converts.
type kind uint8

const (
	kText kind = iota // TEXT as received (also numeric, enums, unknown types)
	kBool
	kInt
	kFloat
	kBytea
	kJSON // TEXT, and embedded as raw JSON inside arrays
	kDate
	kTimestamp
	kTimestamptz
	kPgLSN
	kArray
	kComposite // TEXT; a JSON object with custom_postgres_types
	kRange     // TEXT; a JSON object with custom_postgres_types
)

// typeInfo describes how to decode one type.
type typeInfo struct {
	kind  kind
	elem  *typeInfo // arrays; ranges (subtype)
	delim byte      // arrays
	// composites
	fields     []string
	fieldTypes []*typeInfo
}

var builtinKinds = map[uint32]kind{
	oidBool: kBool, oidBytea: kBytea, oidChar: kText, oidName: kText,
	oidInt8: kInt, oidInt2: kInt, oidInt4: kInt, oidOID: kInt,
	oidText: kText, oidJSON: kJSON, oidJSONB: kJSON,
	oidFloat4: kFloat, oidFloat8: kFloat,
	oidBPChar: kText, oidVarchar: kText, oidUUID: kText, oidNumeric: kText,
	oidDate: kDate, oidTime: kText, oidTimetz: kText,
	oidTimestamp: kTimestamp, oidTimestamptz: kTimestamptz,
	oidPgLSN: kPgLSN,
}

// typeRegistry resolves type OIDs (domains to their base type, arrays to
// their element type) with a cache filled from pg_type.
type typeRegistry struct {
	mu    sync.Mutex
	types map[uint32]*typeInfo
}

func newTypeRegistry() *typeRegistry {
	r := &typeRegistry{types: make(map[uint32]*typeInfo)}
	for oid, k := range builtinKinds {
		r.types[oid] = &typeInfo{kind: k}
	}
	return r
}

// resolve makes sure every oid is in the cache, querying pg_type for the
// unknown ones (and, recursively, their element and base types).
func (r *typeRegistry) resolve(ctx context.Context, pool *pgxpool.Pool, oids []uint32) error {
	rows := make(map[uint32]pgTypeRow)
	missing := r.missing(oids, rows)
	for len(missing) > 0 {
		q, err := pool.Query(ctx, `
			SELECT t.oid::int8, t.typtype::text, t.typcategory::text, t.typelem::int8, t.typbasetype::int8, t.typdelim::text,
			       coalesce((SELECT rngsubtype::int8 FROM pg_catalog.pg_range WHERE rngtypid = t.oid), 0),
			       coalesce((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_catalog.pg_attribute
			                 WHERE attrelid = t.typrelid AND attnum > 0 AND NOT attisdropped), '{}'),
			       coalesce((SELECT array_agg(atttypid::int8 ORDER BY attnum) FROM pg_catalog.pg_attribute
			                 WHERE attrelid = t.typrelid AND attnum > 0 AND NOT attisdropped), '{}')
			FROM pg_catalog.pg_type t WHERE t.oid = ANY($1::oid[])`, missing)
		if err != nil {
			return fmt.Errorf("read column types: %w", err)
		}
		var next []uint32
		for q.Next() {
			var oid, elem, base, rangeSub int64
			var typtype, category, delim string
			var attNames []string
			var attTypes []int64
			if err := q.Scan(&oid, &typtype, &category, &elem, &base, &delim, &rangeSub, &attNames, &attTypes); err != nil {
				q.Close()
				return fmt.Errorf("read column types: %w", err)
			}
			x := pgTypeRow{typtype: typtype[0], category: category[0], elem: uint32(elem), base: uint32(base), delim: ',',
				rangeSub: uint32(rangeSub), attNames: attNames}
			if delim != "" {
				x.delim = delim[0]
			}
			for _, a := range attTypes {
				x.attTypes = append(x.attTypes, uint32(a))
			}
			rows[uint32(oid)] = x
			switch {
			case x.typtype == 'd':
				next = append(next, x.base)
			case x.category == 'A' && x.elem != 0:
				next = append(next, x.elem)
			case x.typtype == 'r' && x.rangeSub != 0:
				next = append(next, x.rangeSub)
			case x.typtype == 'c':
				next = append(next, x.attTypes...)
			}
		}
		q.Close()
		if err := q.Err(); err != nil {
			return fmt.Errorf("read column types: %w", err)
		}
		for _, oid := range missing {
			if _, ok := rows[oid]; !ok {
				rows[oid] = pgTypeRow{typtype: 'b', category: 'U'} // vanished type: text
			}
		}
		missing = r.missing(next, rows)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var build func(oid uint32, depth int) *typeInfo
	build = func(oid uint32, depth int) *typeInfo {
		if t, ok := r.types[oid]; ok {
			return t
		}
		x, ok := rows[oid]
		if !ok || depth > 10 {
			return &typeInfo{kind: kText}
		}
		var t *typeInfo
		switch {
		case x.typtype == 'd':
			t = build(x.base, depth+1)
		case x.category == 'A' && x.elem != 0:
			t = &typeInfo{kind: kArray, elem: build(x.elem, depth+1), delim: x.delim}
		case x.typtype == 'c' && len(x.attNames) == len(x.attTypes):
			t = &typeInfo{kind: kComposite, fields: x.attNames}
			r.types[oid] = t // a composite may contain arrays of itself
			for _, a := range x.attTypes {
				t.fieldTypes = append(t.fieldTypes, build(a, depth+1))
			}
			return t
		case x.typtype == 'r' && x.rangeSub != 0:
			t = &typeInfo{kind: kRange, elem: build(x.rangeSub, depth+1)}
		default:
			t = &typeInfo{kind: kText} // enums, composites, ranges, extension types
		}
		r.types[oid] = t
		return t
	}
	for oid := range rows {
		build(oid, 0)
	}
	return nil
}

// pgTypeRow is what resolve reads from pg_type.
type pgTypeRow struct {
	typtype, category byte
	elem, base        uint32
	delim             byte
	rangeSub          uint32
	attNames          []string
	attTypes          []uint32
}

func (r *typeRegistry) missing(oids []uint32, seen map[uint32]pgTypeRow) []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint32
	for _, oid := range oids {
		if _, ok := r.types[oid]; ok {
			continue
		}
		if _, ok := seen[oid]; ok {
			continue
		}
		out = append(out, oid)
	}
	return out
}

// lookup returns the decoder of a type (TEXT when unknown).
func (r *typeRegistry) lookup(oid uint32) *typeInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.types[oid]; ok {
		return t
	}
	return &typeInfo{kind: kText}
}

// decoder converts Postgres text-format values to sync rules values.
type decoder struct {
	// iso selects the ISO 8601 timestamp format (timestamps_iso8601);
	// otherwise the legacy format with a space separator.
	iso bool
	// custom renders composite values as JSON objects and ranges as
	// {lower, upper, lower_exclusive, upper_exclusive} (custom_postgres_types);
	// otherwise both stay in their Postgres text form.
	custom bool
}

// decode converts one non-NULL column value in Postgres text format.
func (d decoder) decode(t *typeInfo, s []byte) sqlvalue.Value {
	switch t.kind {
	case kBool:
		return sqlvalue.Bool(len(s) > 0 && (s[0] == 't' || s[0] == 'T'))
	case kInt:
		if i, err := strconv.ParseInt(string(s), 10, 64); err == nil {
			return sqlvalue.Int(i)
		}
		return sqlvalue.Text(string(s))
	case kFloat:
		if f, err := strconv.ParseFloat(string(s), 64); err == nil {
			return sqlvalue.Real(f)
		}
		return sqlvalue.Text(string(s))
	case kBytea:
		if b, ok := decodeBytea(s); ok {
			return sqlvalue.Blob(b)
		}
		return sqlvalue.Null
	case kDate:
		switch string(s) {
		case "infinity":
			return sqlvalue.Text("9999-12-31")
		case "-infinity":
			return sqlvalue.Text("0000-01-01")
		}
		if strings.HasSuffix(string(s), " BC") {
			return sqlvalue.Null
		}
		return sqlvalue.Text(string(s))
	case kTimestamp, kTimestamptz:
		return d.timestamp(string(s), t.kind == kTimestamptz)
	case kPgLSN:
		return sqlvalue.Text(comparableLSN(string(s)))
	case kArray:
		js, err := d.arrayJSON(t, s)
		if err != nil {
			return sqlvalue.Text(string(s))
		}
		return sqlvalue.Text(js)
	case kComposite, kRange:
		if !d.custom {
			return sqlvalue.Text(string(s))
		}
		var b strings.Builder
		var err error
		if t.kind == kComposite {
			err = d.compositeJSON(&b, t, s)
		} else {
			err = d.rangeJSON(&b, t, s)
		}
		if err != nil {
			return sqlvalue.Text(string(s))
		}
		return sqlvalue.Text(b.String())
	}
	return sqlvalue.Text(string(s))
}

// decodeBytea decodes the hex text form `\x0a0b` (bytea_output = hex).
func decodeBytea(s []byte) ([]byte, bool) {
	if len(s) >= 2 && s[0] == '\\' && s[1] == 'x' {
		b := make([]byte, hex.DecodedLen(len(s)-2))
		if _, err := hex.Decode(b, s[2:]); err != nil {
			return nil, false
		}
		return b, true
	}
	return nil, false
}

// comparableLSN zero-pads both halves of an LSN so LSNs compare as text.
func comparableLSN(s string) string {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return s
	}
	pad := func(x string) string {
		x = strings.ToUpper(x)
		if len(x) < 8 {
			x = strings.Repeat("0", 8-len(x)) + x
		}
		return x
	}
	return pad(hi) + "/" + pad(lo)
}

// timestamp converts the ISO DateStyle text of a timestamp[tz]. With tz, the
// value is normalised to UTC. Legacy format keeps the fraction as received;
// ISO format always has six fraction digits.
func (d decoder) timestamp(s string, tz bool) sqlvalue.Value {
	switch s {
	case "infinity":
		return sqlvalue.Text(d.infinity(true, tz))
	case "-infinity":
		return sqlvalue.Text(d.infinity(false, tz))
	}
	if strings.HasSuffix(s, " BC") {
		return sqlvalue.Null
	}
	// YYYY-MM-DD hh:mm:ss[.ffffff][±hh[:mm[:ss]]]
	date, rest, ok := strings.Cut(s, " ")
	if !ok || len(date) < 10 {
		return sqlvalue.Text(s)
	}
	clock := rest
	offset := ""
	if tz {
		i := strings.LastIndexAny(rest, "+-")
		if i < 0 {
			return sqlvalue.Text(s)
		}
		clock, offset = rest[:i], rest[i:]
	}
	hms, frac, _ := strings.Cut(clock, ".")
	if offset != "" {
		secs, ok := parseOffset(offset)
		if !ok {
			return sqlvalue.Text(s)
		}
		if secs != 0 {
			date, hms, ok = shiftUTC(date, hms, -secs)
			if !ok {
				return sqlvalue.Text(s)
			}
		}
	}
	var b strings.Builder
	b.Grow(32)
	b.WriteString(date)
	if d.iso {
		b.WriteByte('T')
	} else {
		b.WriteByte(' ')
	}
	b.WriteString(hms)
	if d.iso {
		b.WriteByte('.')
		f := frac
		if len(f) > 6 {
			f = f[:6]
		}
		b.WriteString(f)
		b.WriteString(strings.Repeat("0", 6-len(f)))
	} else if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	if tz {
		b.WriteByte('Z')
	}
	return sqlvalue.Text(b.String())
}

func (d decoder) infinity(positive, tz bool) string {
	sep := " "
	if d.iso {
		sep = "T"
	}
	s := "9999-12-31" + sep + "23:59:59"
	if !positive {
		s = "0000-01-01" + sep + "00:00:00"
	}
	if tz {
		s += "Z"
	}
	return s
}

// parseOffset parses ±hh[:mm[:ss]] into seconds east of UTC.
func parseOffset(s string) (int, bool) {
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	parts := strings.Split(s[1:], ":")
	if len(parts) > 3 {
		return 0, false
	}
	secs := 0
	mult := []int{3600, 60, 1}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0, false
		}
		secs += n * mult[i]
	}
	return sign * secs, true
}

// shiftUTC adds secs to a date and hh:mm:ss (years 1..9999).
func shiftUTC(date, hms string, secs int) (string, string, bool) {
	y, err1 := strconv.Atoi(date[:len(date)-6])
	mo, err2 := strconv.Atoi(date[len(date)-5 : len(date)-3])
	dd, err3 := strconv.Atoi(date[len(date)-2:])
	parts := strings.Split(hms, ":")
	if err1 != nil || err2 != nil || err3 != nil || len(parts) != 3 {
		return "", "", false
	}
	h, e1 := strconv.Atoi(parts[0])
	mi, e2 := strconv.Atoi(parts[1])
	se, e3 := strconv.Atoi(parts[2])
	if e1 != nil || e2 != nil || e3 != nil {
		return "", "", false
	}
	// Days since a fixed epoch via the civil-from-days algorithm, so years
	// beyond what time.Time formats nicely still work.
	days := daysFromCivil(y, mo, dd)
	total := int64(days)*86400 + int64(h*3600+mi*60+se) + int64(secs)
	nd := floorDiv(total, 86400)
	rem := total - nd*86400
	y, mo, dd = civilFromDays(nd)
	if y < 1 || y > 9999 {
		return "", "", false
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, mo, dd),
		fmt.Sprintf("%02d:%02d:%02d", rem/3600, rem%3600/60, rem%60), true
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(int64(y), 400)
	yoe := int64(y) - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func civilFromDays(z int64) (int, int, int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}

// arrayJSON converts an array's text form ({1,2,"a b",NULL,{3}}) to JSON:
// numbers stay numbers, booleans become 1/0, json elements are embedded,
// NULL and binary elements become null, everything else a string.
func (d decoder) arrayJSON(t *typeInfo, s []byte) (string, error) {
	// An optional dimension decoration: [1:2]={...}
	if len(s) > 0 && s[0] == '[' {
		i := strings.IndexByte(string(s), '=')
		if i < 0 {
			return "", fmt.Errorf("bad array literal")
		}
		s = s[i+1:]
	}
	p := arrayParser{s: s, delim: t.delim, dec: d, elem: t.elem}
	var b strings.Builder
	if err := p.parse(&b); err != nil {
		return "", err
	}
	if p.i != len(p.s) {
		return "", fmt.Errorf("trailing data in array literal")
	}
	return b.String(), nil
}

type arrayParser struct {
	s     []byte
	i     int
	delim byte
	dec   decoder
	elem  *typeInfo
}

func (p *arrayParser) parse(b *strings.Builder) error {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return fmt.Errorf("array literal: expected {")
	}
	p.i++
	b.WriteByte('[')
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		b.WriteByte(']')
		return nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			b.WriteByte(',')
		}
		if p.i >= len(p.s) {
			return fmt.Errorf("array literal: unexpected end")
		}
		switch p.s[p.i] {
		case '{':
			if err := p.parse(b); err != nil {
				return err
			}
		case '"':
			p.i++
			var val []byte
			for {
				if p.i >= len(p.s) {
					return fmt.Errorf("array literal: unterminated quote")
				}
				c := p.s[p.i]
				p.i++
				if c == '\\' && p.i < len(p.s) {
					val = append(val, p.s[p.i])
					p.i++
					continue
				}
				if c == '"' {
					break
				}
				val = append(val, c)
			}
			p.element(b, val, false)
		default:
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != p.delim && p.s[p.i] != '}' {
				p.i++
			}
			val := p.s[start:p.i]
			p.element(b, val, strings.EqualFold(string(val), "NULL"))
		}
		if p.i >= len(p.s) {
			return fmt.Errorf("array literal: unexpected end")
		}
		if p.s[p.i] == '}' {
			p.i++
			b.WriteByte(']')
			return nil
		}
		if p.s[p.i] != p.delim {
			return fmt.Errorf("array literal: expected delimiter")
		}
		p.i++
	}
}

func (p *arrayParser) element(b *strings.Builder, val []byte, null bool) {
	if null {
		b.WriteString("null")
		return
	}
	p.dec.writeJSON(b, p.elem, val)
}

// writeJSONValue writes a value as JSON the way JavaScript's JSON.stringify
// would (numbers in JS form, no HTML escaping); BLOBs become null.
func writeJSONValue(b *strings.Builder, v sqlvalue.Value) {
	switch v.Kind() {
	case sqlvalue.KindInteger:
		b.WriteString(strconv.FormatInt(v.Int64(), 10))
	case sqlvalue.KindReal:
		b.WriteString(jsNumber(v.Float64()))
	case sqlvalue.KindText:
		writeJSONString(b, v.Str())
	default:
		b.WriteString("null")
	}
}

// jsNumber formats f like JavaScript's Number#toString (null for NaN and
// infinities, as JSON.stringify writes them).
func jsNumber(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "null"
	}
	if f == 0 {
		return "0"
	}
	abs := math.Abs(f)
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // 1e+21, 1.5e-07
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[0]
	exp = strings.TrimLeft(exp[1:], "0")
	return mant + "e" + string(sign) + exp
}

// writeJSONString writes s as a JSON string with the wire's one escaper.
// (Called directly, protocol.AppendJSONString keeps buf on the stack.)
func writeJSONString(b *strings.Builder, s string) {
	var buf [64]byte
	b.Write(protocol.AppendJSONString(buf[:0], s))
}

// writeJSON writes one non-NULL value in Postgres text form as JSON: json
// values embedded, arrays and (with custom types) composites and ranges as
// nested JSON, everything else as its sync rules value.
func (d decoder) writeJSON(b *strings.Builder, t *typeInfo, val []byte) {
	switch {
	case t.kind == kJSON:
		b.Write(val)
		return
	case t.kind == kArray:
		if js, err := d.arrayJSON(t, val); err == nil {
			b.WriteString(js)
			return
		}
	case d.custom && t.kind == kComposite:
		var nb strings.Builder
		if err := d.compositeJSON(&nb, t, val); err == nil {
			b.WriteString(nb.String())
			return
		}
	case d.custom && t.kind == kRange:
		var nb strings.Builder
		if err := d.rangeJSON(&nb, t, val); err == nil {
			b.WriteString(nb.String())
			return
		}
	}
	writeJSONValue(b, d.decode(t, val))
}

// recordFields splits a composite's text form `(a,"b c",)` into its fields;
// nil marks NULL (an empty unquoted field).
func recordFields(s []byte) ([][]byte, error) {
	if len(s) < 2 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, fmt.Errorf("record literal: not in parentheses")
	}
	s = s[1 : len(s)-1]
	var out [][]byte
	i := 0
	for {
		var field []byte
		quotedOrText := false
		for i < len(s) && s[i] != ',' {
			c := s[i]
			switch {
			case c == '"':
				quotedOrText = true
				i++
				for i < len(s) {
					if s[i] == '\\' && i+1 < len(s) {
						field = append(field, s[i+1])
						i += 2
						continue
					}
					if s[i] == '"' {
						if i+1 < len(s) && s[i+1] == '"' {
							field = append(field, '"')
							i += 2
							continue
						}
						i++
						break
					}
					field = append(field, s[i])
					i++
				}
			case c == '\\' && i+1 < len(s):
				quotedOrText = true
				field = append(field, s[i+1])
				i += 2
			default:
				quotedOrText = true
				field = append(field, c)
				i++
			}
		}
		if quotedOrText {
			if field == nil {
				field = []byte{}
			}
			out = append(out, field)
		} else {
			out = append(out, nil)
		}
		if i >= len(s) {
			return out, nil
		}
		i++ // the comma
	}
}

// compositeJSON writes a composite value as a JSON object of its fields.
func (d decoder) compositeJSON(b *strings.Builder, t *typeInfo, s []byte) error {
	fields, err := recordFields(s)
	if err != nil {
		return err
	}
	if len(fields) != len(t.fields) {
		return fmt.Errorf("record literal has %d fields, the type %d", len(fields), len(t.fields))
	}
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, t.fields[i])
		b.WriteByte(':')
		if f == nil {
			b.WriteString("null")
			continue
		}
		d.writeJSON(b, t.fieldTypes[i], f)
	}
	b.WriteByte('}')
	return nil
}

// rangeJSON writes a range value ([1,10), (,5], empty) as
// {"lower","upper","lower_exclusive","upper_exclusive"} with unbounded
// ends null and the flags 1/0, or "empty".
func (d decoder) rangeJSON(b *strings.Builder, t *typeInfo, s []byte) error {
	if string(s) == "empty" {
		b.WriteString(`"empty"`)
		return nil
	}
	if len(s) < 3 || (s[0] != '[' && s[0] != '(') || (s[len(s)-1] != ']' && s[len(s)-1] != ')') {
		return fmt.Errorf("range literal: no bounds")
	}
	bounds, err := recordFields(append(append([]byte{'('}, s[1:len(s)-1]...), ')'))
	if err != nil || len(bounds) != 2 {
		return fmt.Errorf("range literal: want two bounds")
	}
	b.WriteString(`{"lower":`)
	if bounds[0] == nil {
		b.WriteString("null")
	} else {
		d.writeJSON(b, t.elem, bounds[0])
	}
	b.WriteString(`,"upper":`)
	if bounds[1] == nil {
		b.WriteString("null")
	} else {
		d.writeJSON(b, t.elem, bounds[1])
	}
	flag := func(exclusive bool) string {
		if exclusive {
			return "1"
		}
		return "0"
	}
	b.WriteString(`,"lower_exclusive":` + flag(s[0] == '(') + `,"upper_exclusive":` + flag(s[len(s)-1] == ')') + "}")
	return nil
}
