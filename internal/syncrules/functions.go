package syncrules

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// scalarFunc is one SQL function of §5.2.
type scalarFunc struct {
	minArgs, maxArgs int // maxArgs -1 = unbounded
	call             func(o evalOptions, args []sqlvalue.Value) (sqlvalue.Value, error)
}

// scalarFunctions is every scalar function the engine knows, by lower-case
// name. Availability per language is decided by the compilers.
var scalarFunctions = map[string]scalarFunc{
	"upper":             {1, 1, fnUpper},
	"lower":             {1, 1, fnLower},
	"substring":         {2, 3, fnSubstring},
	"instr":             {2, 2, fnInstr},
	"length":            {1, 1, fnLength},
	"hex":               {1, 1, fnHex},
	"base64":            {1, 1, fnBase64},
	"uuid_blob":         {1, 1, fnUUIDBlob},
	"typeof":            {1, 1, fnTypeof},
	"ifnull":            {2, -1, fnIfnull},
	"iif":               {3, 3, fnIif},
	"json_extract":      {2, -1, fnJSONExtract},
	"json_array_length": {1, 2, fnJSONArrayLength},
	"json_valid":        {1, 1, fnJSONValid},
	"json_keys":         {1, 1, fnJSONKeys},
	"unixepoch":         {1, 3, fnUnixepoch},
	"datetime":          {1, 3, fnDatetime},
	"st_asgeojson":      {1, 1, fnGeoJSON},
	"st_astext":         {1, 1, fnGeoText},
	"st_x":              {1, 1, fnGeoX},
	"st_y":              {1, 1, fnGeoY},
}

// CallFunction calls a scalar function by (lower-case) name on evaluated
// arguments; fixedJSON selects the fixed_json_extract rules. It reports an
// error for unknown functions and wrong argument counts.
func CallFunction(name string, args []sqlvalue.Value, fixedJSON bool) (sqlvalue.Value, error) {
	f, ok := scalarFunctions[name]
	if !ok {
		return sqlvalue.Null, sqlErrorf("Function '%s' is not defined", name)
	}
	if len(args) < f.minArgs || (f.maxArgs >= 0 && len(args) > f.maxArgs) {
		return sqlvalue.Null, sqlErrorf("Function '%s' takes %s arguments", name, arityText(f))
	}
	return f.call(evalOptions{fixedJSON: fixedJSON}, args)
}

func arityText(f scalarFunc) string {
	switch {
	case f.minArgs == f.maxArgs:
		return strconv.Itoa(f.minArgs)
	case f.maxArgs < 0:
		return "at least " + strconv.Itoa(f.minArgs)
	}
	return strconv.Itoa(f.minArgs) + " to " + strconv.Itoa(f.maxArgs)
}

func fnUpper(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	s := strings.ToUpper(a[0].AsText())
	// JavaScript maps ß to SS; Go's simple case mapping keeps it.
	s = strings.ReplaceAll(s, "ß", "SS")
	return sqlvalue.Text(s), nil
}

func fnLower(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	return sqlvalue.Text(strings.ToLower(a[0].AsText())), nil
}

// substr implements SQLite's substr() index arithmetic on n units.
func substrRange(n int, start int64, length int64, hasLen bool) (int, int) {
	p1 := start
	p2 := int64(math.MaxInt32)
	if hasLen {
		p2 = length
	}
	neg := false
	if p2 < 0 {
		p2, neg = -p2, true
	}
	ln := int64(n)
	if p1 < 0 {
		p1 += ln
		if p1 < 0 {
			p2 += p1
			if p2 < 0 {
				p2 = 0
			}
			p1 = 0
		}
	} else if p1 > 0 {
		p1--
	} else if p2 > 0 {
		p2--
	}
	if neg {
		p1 -= p2
		if p1 < 0 {
			p2 += p1
			p1 = 0
		}
	}
	if p1 > ln {
		p1 = ln
	}
	if p1+p2 > ln {
		p2 = ln - p1
	}
	if p2 < 0 {
		p2 = 0
	}
	return int(p1), int(p1 + p2)
}

func fnSubstring(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() == sqlvalue.KindNull || a[1].Kind() == sqlvalue.KindNull || (len(a) == 3 && a[2].Kind() == sqlvalue.KindNull) {
		return sqlvalue.Null, nil
	}
	start := sqlvalue.CastInteger(a[1]).Int64()
	var length int64
	if len(a) == 3 {
		length = sqlvalue.CastInteger(a[2]).Int64()
	}
	if a[0].Kind() == sqlvalue.KindBlob {
		b := a[0].Str()
		i, j := substrRange(len(b), start, length, len(a) == 3)
		return sqlvalue.BlobString(b[i:j]), nil
	}
	units := utf16.Encode([]rune(a[0].AsText()))
	i, j := substrRange(len(units), start, length, len(a) == 3)
	return sqlvalue.Text(string(utf16.Decode(units[i:j]))), nil
}

func fnInstr(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() == sqlvalue.KindNull || a[1].Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	if a[0].Kind() == sqlvalue.KindBlob && a[1].Kind() == sqlvalue.KindBlob {
		return sqlvalue.Int(int64(strings.Index(a[0].Str(), a[1].Str()) + 1)), nil
	}
	hay, needle := a[0].AsText(), a[1].AsText()
	i := strings.Index(hay, needle)
	if i < 0 {
		return sqlvalue.Int(0), nil
	}
	return sqlvalue.Int(int64(sqlvalue.UTF16Len(hay[:i]) + 1)), nil
}

func fnLength(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	switch a[0].Kind() {
	case sqlvalue.KindNull:
		return sqlvalue.Null, nil
	case sqlvalue.KindBlob:
		return sqlvalue.Int(int64(len(a[0].Str()))), nil
	}
	return sqlvalue.Int(int64(sqlvalue.UTF16Len(a[0].AsText()))), nil
}

func fnHex(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	return sqlvalue.Text(strings.ToUpper(hex.EncodeToString([]byte(a[0].AsText())))), nil
}

func fnBase64(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	return sqlvalue.Text(base64.StdEncoding.EncodeToString([]byte(a[0].AsText()))), nil
}

func fnUUIDBlob(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	s := a[0].AsText()
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	s = strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return sqlvalue.Null, sqlError("Cannot call uuid_blob on a non UUID value")
	}
	return sqlvalue.Blob(b), nil
}

func fnTypeof(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	return sqlvalue.Text(a[0].Kind().String()), nil
}

func fnIfnull(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() != sqlvalue.KindNull {
		return a[0], nil
	}
	return a[1], nil
}

func fnIif(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Truthy() {
		return a[1], nil
	}
	return a[2], nil
}

func fnJSONExtract(o evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() == sqlvalue.KindNull || a[1].Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	path := a[1].AsText()
	if !strings.HasPrefix(path, "$") {
		return sqlvalue.Null, sqlError("JSON path must start with $.")
	}
	return jsonArrow2(a[0], a[1], o)
}

func fnJSONArrayLength(o evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	src := a[0]
	if len(a) == 2 {
		var err error
		if src, err = fnJSONExtract(o, a); err != nil {
			return sqlvalue.Null, err
		}
	}
	if src.Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	j, err := parseJSON(src.AsText())
	if err != nil {
		return sqlvalue.Null, err
	}
	if j.kind != jsonArray {
		return sqlvalue.Int(0), nil
	}
	return sqlvalue.Int(int64(len(j.arr))), nil
}

func fnJSONValid(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() == sqlvalue.KindNull {
		return sqlvalue.Int(0), nil
	}
	_, err := parseJSON(a[0].AsText())
	return sqlvalue.Bool(err == nil), nil
}

func fnJSONKeys(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	if a[0].Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	j, err := parseJSON(a[0].AsText())
	if err != nil {
		return sqlvalue.Null, err
	}
	if j.kind != jsonObject {
		return sqlvalue.Null, sqlError("Object.keys called on non-object")
	}
	// JavaScript orders integer-like keys first, ascending.
	var ints []string
	var rest []string
	for _, k := range j.keys {
		if isArrayIndex(k) {
			ints = append(ints, k)
		} else {
			rest = append(rest, k)
		}
	}
	sortIndexKeys(ints)
	out := []byte{'['}
	for i, k := range append(ints, rest...) {
		if i > 0 {
			out = append(out, ',')
		}
		out = sqlvalue.AppendJSONString(out, k)
	}
	out = append(out, ']')
	return sqlvalue.Text(string(out)), nil
}

func isArrayIndex(k string) bool {
	if k == "" || (len(k) > 1 && k[0] == '0') {
		return false
	}
	n, err := strconv.ParseUint(k, 10, 32)
	return err == nil && n < math.MaxUint32
}

func sortIndexKeys(keys []string) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0; j-- {
			a, _ := strconv.ParseUint(keys[j-1], 10, 32)
			b, _ := strconv.ParseUint(keys[j], 10, 32)
			if a <= b {
				break
			}
			keys[j-1], keys[j] = keys[j], keys[j-1]
		}
	}
}

// Geometry functions: g is PostGIS (E)WKB as a BLOB or hex text.

func geometryBytes(v sqlvalue.Value) ([]byte, bool) {
	switch v.Kind() {
	case sqlvalue.KindBlob:
		return []byte(v.Str()), true
	case sqlvalue.KindText:
		b, err := hex.DecodeString(v.Str())
		return b, err == nil
	}
	return nil, false
}

func fnGeoJSON(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	g, err := geometryOf(a[0])
	if err != nil || g == nil {
		return sqlvalue.Null, err
	}
	return sqlvalue.Text(g.geoJSON()), nil
}

func fnGeoText(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	g, err := geometryOf(a[0])
	if err != nil || g == nil {
		return sqlvalue.Null, err
	}
	return sqlvalue.Text(g.wkt()), nil
}

func fnGeoX(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	g, err := geometryOf(a[0])
	if err != nil || g == nil || g.typ != 1 || len(g.points) != 1 {
		return sqlvalue.Null, err
	}
	return sqlvalue.Real(g.points[0][0]), nil
}

func fnGeoY(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	g, err := geometryOf(a[0])
	if err != nil || g == nil || g.typ != 1 || len(g.points) != 1 {
		return sqlvalue.Null, err
	}
	return sqlvalue.Real(g.points[0][1]), nil
}

func geometryOf(v sqlvalue.Value) (*geometry, error) {
	if v.Kind() == sqlvalue.KindNull {
		return nil, nil
	}
	b, ok := geometryBytes(v)
	if !ok {
		return nil, errors.New("invalid geometry value")
	}
	r := wkbReader{b: b}
	g, err := r.read(0)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// geometry is a decoded WKB geometry (2D).
type geometry struct {
	typ    uint32 // 1 point, 2 linestring, 3 polygon, 4-6 multi, 7 collection
	points [][2]float64
	rings  [][][2]float64 // polygon rings
	parts  []*geometry    // multi / collection members
}

type wkbReader struct {
	b   []byte
	pos int
	le  bool
}

var errWKB = errors.New("invalid WKB geometry")

func (r *wkbReader) u32() (uint32, error) {
	if r.pos+4 > len(r.b) {
		return 0, errWKB
	}
	var v uint32
	if r.le {
		v = uint32(r.b[r.pos]) | uint32(r.b[r.pos+1])<<8 | uint32(r.b[r.pos+2])<<16 | uint32(r.b[r.pos+3])<<24
	} else {
		v = uint32(r.b[r.pos+3]) | uint32(r.b[r.pos+2])<<8 | uint32(r.b[r.pos+1])<<16 | uint32(r.b[r.pos])<<24
	}
	r.pos += 4
	return v, nil
}

func (r *wkbReader) f64() (float64, error) {
	if r.pos+8 > len(r.b) {
		return 0, errWKB
	}
	var v uint64
	for i := 0; i < 8; i++ {
		var by byte
		if r.le {
			by = r.b[r.pos+7-i]
		} else {
			by = r.b[r.pos+i]
		}
		v = v<<8 | uint64(by)
	}
	r.pos += 8
	return math.Float64frombits(v), nil
}

func (r *wkbReader) read(depth int) (*geometry, error) {
	if depth > 32 || r.pos >= len(r.b) {
		return nil, errWKB
	}
	r.le = r.b[r.pos] == 1
	r.pos++
	t, err := r.u32()
	if err != nil {
		return nil, err
	}
	dims := 2
	if t&0x80000000 != 0 {
		dims++
	}
	if t&0x40000000 != 0 {
		dims++
	}
	if t&0x20000000 != 0 { // SRID
		if _, err := r.u32(); err != nil {
			return nil, err
		}
	}
	t &= 0x0fffffff
	switch {
	case t > 3000:
		t -= 3000
		dims = 4
	case t > 2000:
		t -= 2000
		dims = 3
	case t > 1000:
		t -= 1000
		dims = 3
	}
	g := &geometry{typ: t}
	point := func() ([2]float64, error) {
		var p [2]float64
		for i := 0; i < dims; i++ {
			f, err := r.f64()
			if err != nil {
				return p, err
			}
			if i < 2 {
				p[i] = f
			}
		}
		return p, nil
	}
	points := func() ([][2]float64, error) {
		n, err := r.u32()
		if err != nil || int(n) > len(r.b) {
			return nil, errWKB
		}
		out := make([][2]float64, 0, n)
		for i := uint32(0); i < n; i++ {
			p, err := point()
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	}
	switch t {
	case 1:
		p, err := point()
		if err != nil {
			return nil, err
		}
		g.points = [][2]float64{p}
	case 2:
		if g.points, err = points(); err != nil {
			return nil, err
		}
	case 3:
		n, err := r.u32()
		if err != nil || int(n) > len(r.b) {
			return nil, errWKB
		}
		for i := uint32(0); i < n; i++ {
			ring, err := points()
			if err != nil {
				return nil, err
			}
			g.rings = append(g.rings, ring)
		}
	case 4, 5, 6, 7:
		n, err := r.u32()
		if err != nil || int(n) > len(r.b) {
			return nil, errWKB
		}
		for i := uint32(0); i < n; i++ {
			part, err := r.read(depth + 1)
			if err != nil {
				return nil, err
			}
			g.parts = append(g.parts, part)
		}
	default:
		return nil, errWKB
	}
	return g, nil
}

var geoNames = map[uint32]string{1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}

func appendCoord(b *bytes.Buffer, p [2]float64, json bool) {
	if json {
		// GeoJSON text is written like row data: integral REALs get ".0".
		b.WriteByte('[')
		b.Write(sqlvalue.AppendRowReal(nil, p[0]))
		b.WriteByte(',')
		b.Write(sqlvalue.AppendRowReal(nil, p[1]))
		b.WriteByte(']')
		return
	}
	b.WriteString(sqlvalue.FormatJSNumber(p[0]))
	b.WriteByte(' ')
	b.WriteString(sqlvalue.FormatJSNumber(p[1]))
}

func appendCoords(b *bytes.Buffer, ps [][2]float64, json bool) {
	if json {
		b.WriteByte('[')
	} else {
		b.WriteByte('(')
	}
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		appendCoord(b, p, json)
	}
	if json {
		b.WriteByte(']')
	} else {
		b.WriteByte(')')
	}
}

func (g *geometry) coordinates(b *bytes.Buffer, json bool) {
	open, close := byte('('), byte(')')
	if json {
		open, close = '[', ']'
	}
	switch g.typ {
	case 1:
		if json {
			appendCoord(b, g.points[0], true)
		} else {
			b.WriteByte('(')
			appendCoord(b, g.points[0], false)
			b.WriteByte(')')
		}
	case 2:
		appendCoords(b, g.points, json)
	case 3:
		b.WriteByte(open)
		for i, ring := range g.rings {
			if i > 0 {
				b.WriteByte(',')
			}
			appendCoords(b, ring, json)
		}
		b.WriteByte(close)
	default:
		b.WriteByte(open)
		for i, p := range g.parts {
			if i > 0 {
				b.WriteByte(',')
			}
			if g.typ == 7 {
				if json {
					b.WriteString(p.geoJSON())
				} else {
					b.WriteString(p.wkt())
				}
				continue
			}
			p.coordinates(b, json)
		}
		b.WriteByte(close)
	}
}

func (g *geometry) geoJSON() string {
	var b bytes.Buffer
	b.WriteString(`{"type":"` + geoNames[g.typ] + `",`)
	if g.typ == 7 {
		b.WriteString(`"geometries":`)
	} else {
		b.WriteString(`"coordinates":`)
	}
	g.coordinates(&b, true)
	b.WriteByte('}')
	return b.String()
}

func (g *geometry) wkt() string {
	var b bytes.Buffer
	b.WriteString(strings.ToUpper(geoNames[g.typ]))
	g.coordinates(&b, false)
	return b.String()
}
