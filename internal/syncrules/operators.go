package syncrules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// This file implements the operators of the SQL subset on Values with the
// semantics of the reference's JavaScript engine (§5.1): two-valued
// AND/OR/NOT (NULL counts as false), numeric coercion of text operands for
// arithmetic, text comparison by bytes, and the JSON operators.

// evalOptions are the compatibility switches that change evaluation.
type evalOptions struct {
	// fixedJSON is fixed_json_extract: '$'-only path splitting and JSON
	// null as NULL from ->>.
	fixedJSON bool
}

// sqlError is an evaluation or compile error whose text is shown to users
// as the reference words it (capitalized, sometimes with a final period),
// so it is not built with errors.New.
type sqlError string

func (e sqlError) Error() string { return string(e) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// sqlErrorf formats a sqlError.
func sqlErrorf(format string, args ...any) error {
	return sqlError(fmt.Sprintf(format, args...))
}

// compareOp evaluates = != < <= > >= (NULL if either side is NULL).
func compareOp(op string, a, b sqlvalue.Value) (sqlvalue.Value, error) {
	if a.Kind() == sqlvalue.KindNull || b.Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	c, err := sqlvalue.Compare(a, b)
	if err != nil {
		return sqlvalue.Null, err
	}
	switch op {
	case "=":
		return sqlvalue.Bool(c == 0), nil
	case "!=":
		return sqlvalue.Bool(c != 0), nil
	case "<":
		return sqlvalue.Bool(c < 0), nil
	case "<=":
		return sqlvalue.Bool(c <= 0), nil
	case ">":
		return sqlvalue.Bool(c > 0), nil
	}
	return sqlvalue.Bool(c >= 0), nil
}

// isOp evaluates "a IS b" (NULL-aware equality, never NULL).
func isOp(a, b sqlvalue.Value) sqlvalue.Value {
	if a.Kind() == sqlvalue.KindNull || b.Kind() == sqlvalue.KindNull {
		return sqlvalue.Bool(a.Kind() == b.Kind())
	}
	return sqlvalue.Bool(sqlvalue.Equal(a, b))
}

// numericOf coerces an arithmetic operand like CAST(x AS NUMERIC).
func numericOf(v sqlvalue.Value) sqlvalue.Value {
	switch v.Kind() {
	case sqlvalue.KindInteger, sqlvalue.KindReal:
		return v
	}
	return castNumeric(v)
}

// arithmetic evaluates + - * / with SQLite typing: INTEGER op INTEGER
// stays INTEGER (overflow turns REAL, like SQLite), division by zero is
// NULL.
func arithmetic(op string, a, b sqlvalue.Value) sqlvalue.Value {
	if a.Kind() == sqlvalue.KindNull || b.Kind() == sqlvalue.KindNull {
		return sqlvalue.Null
	}
	a, b = numericOf(a), numericOf(b)
	if a.Kind() == sqlvalue.KindInteger && b.Kind() == sqlvalue.KindInteger {
		x, y := a.Int64(), b.Int64()
		switch op {
		case "+":
			r := x + y
			if (r > x) == (y > 0) {
				return sqlvalue.Int(r)
			}
		case "-":
			r := x - y
			if (r < x) == (y > 0) {
				return sqlvalue.Int(r)
			}
		case "*":
			if x == 0 || y == 0 {
				return sqlvalue.Int(0)
			}
			r := x * y
			if r/y == x && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64) {
				return sqlvalue.Int(r)
			}
		case "/":
			if y == 0 {
				return sqlvalue.Null
			}
			if !(x == math.MinInt64 && y == -1) {
				return sqlvalue.Int(x / y)
			}
		}
	}
	x, y := toFloat(a), toFloat(b)
	switch op {
	case "+":
		return sqlvalue.Real(x + y)
	case "-":
		return sqlvalue.Real(x - y)
	case "*":
		return sqlvalue.Real(x * y)
	}
	if y == 0 {
		return sqlvalue.Null
	}
	return sqlvalue.Real(x / y)
}

func toFloat(v sqlvalue.Value) float64 {
	if v.Kind() == sqlvalue.KindInteger {
		return float64(v.Int64())
	}
	return v.Float64()
}

// concat evaluates a || b.
func concat(a, b sqlvalue.Value) sqlvalue.Value {
	if a.Kind() == sqlvalue.KindNull || b.Kind() == sqlvalue.KindNull {
		return sqlvalue.Null
	}
	return sqlvalue.Text(a.AsText() + b.AsText())
}

// Casts (§5.3).

// castText is CAST(x AS TEXT).
func castText(v sqlvalue.Value) sqlvalue.Value {
	if v.Kind() == sqlvalue.KindNull || v.Kind() == sqlvalue.KindText {
		return v
	}
	return sqlvalue.Text(v.AsText())
}

// castInteger is CAST(x AS INTEGER): text by its leading integer prefix,
// REAL by floor (as the reference's JavaScript engine does).
func castInteger(v sqlvalue.Value) sqlvalue.Value {
	switch v.Kind() {
	case sqlvalue.KindNull, sqlvalue.KindInteger:
		return v
	case sqlvalue.KindReal:
		f := math.Floor(v.Float64())
		if math.IsNaN(f) {
			return sqlvalue.Int(0)
		}
		if f >= 9.223372036854775807e18 {
			return sqlvalue.Int(math.MaxInt64)
		}
		if f <= -9.223372036854775808e18 {
			return sqlvalue.Int(math.MinInt64)
		}
		return sqlvalue.Int(int64(f))
	}
	s := strings.TrimLeft(v.Str(), " \t\n\r\f\v")
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j == i {
		return sqlvalue.Int(0)
	}
	n, err := strconv.ParseInt(s[:j], 10, 64)
	if err != nil {
		if s[0] == '-' {
			return sqlvalue.Int(math.MinInt64)
		}
		return sqlvalue.Int(math.MaxInt64)
	}
	return sqlvalue.Int(n)
}

// castReal is CAST(x AS REAL): text by JavaScript parseFloat (prefix), 0
// when nothing parses.
func castReal(v sqlvalue.Value) sqlvalue.Value {
	switch v.Kind() {
	case sqlvalue.KindNull, sqlvalue.KindReal:
		return v
	case sqlvalue.KindInteger:
		return sqlvalue.Real(float64(v.Int64()))
	}
	s := strings.TrimLeft(v.Str(), " \t\n\r\f\v")
	if strings.HasPrefix(s, "Infinity") || strings.HasPrefix(s, "+Infinity") {
		return sqlvalue.Real(math.Inf(1))
	}
	if strings.HasPrefix(s, "-Infinity") {
		return sqlvalue.Real(math.Inf(-1))
	}
	n := numericPrefix(s)
	if n == 0 {
		return sqlvalue.Real(0)
	}
	f, _ := strconv.ParseFloat(s[:n], 64)
	return sqlvalue.Real(f)
}

// numericPrefix returns the length of the longest prefix of s of the form
// [+-]?(digits[.digits]|.digits)([eE][+-]?digits)?; 0 if none.
func numericPrefix(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	d := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intDigits := i - d
	frac := 0
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		frac = j - i - 1
		if intDigits > 0 || frac > 0 {
			i = j
		}
	}
	if intDigits == 0 && frac == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k > j {
			i = k
		}
	}
	return i
}

// castNumeric is CAST(x AS NUMERIC): the longest numeric prefix of text,
// REAL when it has a fraction or exponent, else INTEGER; 0 if none.
func castNumeric(v sqlvalue.Value) sqlvalue.Value {
	switch v.Kind() {
	case sqlvalue.KindNull, sqlvalue.KindInteger, sqlvalue.KindReal:
		return v
	}
	s := strings.TrimLeft(v.Str(), " \t\n\r\f\v")
	n := numericPrefix(s)
	if n == 0 {
		return sqlvalue.Int(0)
	}
	text := s[:n]
	if !strings.ContainsAny(text, ".eE") {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return sqlvalue.Int(i)
		}
	}
	f, _ := strconv.ParseFloat(text, 64)
	return sqlvalue.Real(f)
}

// castBlob is CAST(x AS BLOB): the UTF-8 bytes of the text form.
func castBlob(v sqlvalue.Value) sqlvalue.Value {
	switch v.Kind() {
	case sqlvalue.KindNull, sqlvalue.KindBlob:
		return v
	}
	return sqlvalue.BlobString(v.AsText())
}

// castTo applies a cast by type name; ok is false for unsupported types.
func castTo(v sqlvalue.Value, typ string) (sqlvalue.Value, bool) {
	switch typ {
	case "text":
		return castText(v), true
	case "integer":
		return castInteger(v), true
	case "real":
		return castReal(v), true
	case "numeric":
		return castNumeric(v), true
	case "blob":
		return castBlob(v), true
	}
	return sqlvalue.Null, false
}

// JSON operators (§5.4).

// jsonPath splits a path for ->, ->> and json_extract.
func jsonPath(path string, fixed bool) []string {
	if fixed && !strings.HasPrefix(path, "$") {
		return []string{path}
	}
	parts := strings.Split(path, ".")
	if strings.HasPrefix(parts[0], "$") {
		parts = parts[1:]
	}
	return parts
}

// jsonSelect parses src and walks path; found is false when a component
// is missing.
func jsonSelect(src sqlvalue.Value, path []string) (jsonValue, bool, error) {
	j, err := parseJSON(src.AsText())
	if err != nil {
		return jsonValue{}, false, err
	}
	for _, k := range path {
		var ok bool
		if j, ok = j.get(k); !ok {
			return jsonValue{}, false, nil
		}
	}
	return j, true, nil
}

func pathText(p sqlvalue.Value) string {
	return p.AsText()
}

// jsonArrow evaluates src -> path: the selected value as JSON text.
func jsonArrow(src, path sqlvalue.Value, o evalOptions) (sqlvalue.Value, error) {
	if src.Kind() == sqlvalue.KindNull || path.Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	j, found, err := jsonSelect(src, jsonPath(pathText(path), o.fixedJSON))
	if err != nil || !found {
		return sqlvalue.Null, err
	}
	if j.kind == jsonNull && !o.fixedJSON {
		return sqlvalue.Null, nil
	}
	return sqlvalue.Text(string(j.appendJSON(nil))), nil
}

// jsonArrow2 evaluates src ->> path: the selected value as a SQL value.
func jsonArrow2(src, path sqlvalue.Value, o evalOptions) (sqlvalue.Value, error) {
	if src.Kind() == sqlvalue.KindNull || path.Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	j, found, err := jsonSelect(src, jsonPath(pathText(path), o.fixedJSON))
	if err != nil || !found {
		return sqlvalue.Null, err
	}
	return jsonScalar(j, o), nil
}

// jsonScalar converts a selected JSON value for ->>: JSON null is TEXT
// 'null' without fixed_json_extract (a reference quirk), NULL with it.
func jsonScalar(j jsonValue, o evalOptions) sqlvalue.Value {
	if j.kind == jsonNull && !o.fixedJSON {
		return sqlvalue.Text("null")
	}
	return j.toValue()
}

// jsonElements parses v as a JSON array for IN and &&.
func jsonElements(v sqlvalue.Value) ([]sqlvalue.Value, error) {
	if v.Kind() != sqlvalue.KindText {
		return nil, errors.New("IN is only supported on JSON arrays")
	}
	j, err := parseJSON(v.Str())
	if err != nil {
		return nil, err
	}
	if j.kind != jsonArray {
		return nil, errors.New("IN is only supported on JSON arrays")
	}
	out := make([]sqlvalue.Value, len(j.arr))
	for i, e := range j.arr {
		out[i] = e.toValue()
	}
	return out, nil
}

// inJSON evaluates x IN jsonArray.
func inJSON(x, arr sqlvalue.Value) (sqlvalue.Value, error) {
	if x.Kind() == sqlvalue.KindNull || arr.Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	elems, err := jsonElements(arr)
	if err != nil {
		return sqlvalue.Null, err
	}
	for _, e := range elems {
		if e.Kind() == sqlvalue.KindNull {
			continue
		}
		c, err := sqlvalue.Compare(x, e)
		if err == nil && c == 0 {
			return sqlvalue.Int(1), nil
		}
	}
	return sqlvalue.Int(0), nil
}

// overlap evaluates a && b on two JSON arrays.
func overlap(a, b sqlvalue.Value) (sqlvalue.Value, error) {
	if a.Kind() == sqlvalue.KindNull || b.Kind() == sqlvalue.KindNull {
		return sqlvalue.Null, nil
	}
	xs, err := jsonElements(a)
	if err != nil {
		return sqlvalue.Null, err
	}
	ys, err := jsonElements(b)
	if err != nil {
		return sqlvalue.Null, err
	}
	for _, x := range xs {
		for _, y := range ys {
			if x.Kind() != sqlvalue.KindNull && y.Kind() != sqlvalue.KindNull && sqlvalue.Equal(x, y) {
				return sqlvalue.Int(1), nil
			}
		}
	}
	return sqlvalue.Int(0), nil
}

// EvalBinary applies a binary operator to two values, as the compiled
// plans do. Supported: AND OR = != < <= > >= IS + - * / || -> ->> &&.
// fixedJSON selects the fixed_json_extract path rules.
func EvalBinary(op string, a, b sqlvalue.Value, fixedJSON bool) (sqlvalue.Value, error) {
	o := evalOptions{fixedJSON: fixedJSON}
	switch op {
	case "AND":
		return sqlvalue.Bool(a.Truthy() && b.Truthy()), nil
	case "OR":
		return sqlvalue.Bool(a.Truthy() || b.Truthy()), nil
	case "=", "!=", "<", "<=", ">", ">=":
		return compareOp(op, a, b)
	case "IS":
		return isOp(a, b), nil
	case "+", "-", "*", "/":
		return arithmetic(op, a, b), nil
	case "||":
		return concat(a, b), nil
	case "->":
		return jsonArrow(a, b, o)
	case "->>":
		return jsonArrow2(a, b, o)
	case "&&":
		return overlap(a, b)
	case "IN":
		return inJSON(a, b)
	}
	return sqlvalue.Null, errors.New("Operator not supported: " + op)
}
