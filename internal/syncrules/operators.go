package syncrules

import (
	"errors"
	"fmt"
	"math"
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
	return sqlvalue.CastNumeric(v)
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
