package sqlvalue

import (
	"math"
	"strconv"
	"strings"
)

// The SQL casts, with the semantics of the reference's JavaScript engine.

// CastText is CAST(x AS TEXT).
func CastText(v Value) Value {
	if v.Kind() == KindNull || v.Kind() == KindText {
		return v
	}
	return Text(v.AsText())
}

// CastInteger is CAST(x AS INTEGER): text by its leading integer prefix,
// REAL by floor (as the reference's JavaScript engine does).
func CastInteger(v Value) Value {
	switch v.Kind() {
	case KindNull, KindInteger:
		return v
	case KindReal:
		f := math.Floor(v.Float64())
		if math.IsNaN(f) {
			return Int(0)
		}
		if f >= 9.223372036854775807e18 {
			return Int(math.MaxInt64)
		}
		if f <= -9.223372036854775808e18 {
			return Int(math.MinInt64)
		}
		return Int(int64(f))
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
		return Int(0)
	}
	n, err := strconv.ParseInt(s[:j], 10, 64)
	if err != nil {
		if s[0] == '-' {
			return Int(math.MinInt64)
		}
		return Int(math.MaxInt64)
	}
	return Int(n)
}

// CastReal is CAST(x AS REAL): text by JavaScript parseFloat (prefix), 0
// when nothing parses.
func CastReal(v Value) Value {
	switch v.Kind() {
	case KindNull, KindReal:
		return v
	case KindInteger:
		return Real(float64(v.Int64()))
	}
	s := strings.TrimLeft(v.Str(), " \t\n\r\f\v")
	if strings.HasPrefix(s, "Infinity") || strings.HasPrefix(s, "+Infinity") {
		return Real(math.Inf(1))
	}
	if strings.HasPrefix(s, "-Infinity") {
		return Real(math.Inf(-1))
	}
	n := numericPrefix(s)
	if n == 0 {
		return Real(0)
	}
	f, _ := strconv.ParseFloat(s[:n], 64)
	return Real(f)
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

// CastNumeric is CAST(x AS NUMERIC): the longest numeric prefix of text,
// REAL when it has a fraction or exponent, else INTEGER; 0 if none.
func CastNumeric(v Value) Value {
	switch v.Kind() {
	case KindNull, KindInteger, KindReal:
		return v
	}
	s := strings.TrimLeft(v.Str(), " \t\n\r\f\v")
	n := numericPrefix(s)
	if n == 0 {
		return Int(0)
	}
	text := s[:n]
	if !strings.ContainsAny(text, ".eE") {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			return Int(i)
		}
	}
	f, _ := strconv.ParseFloat(text, 64)
	return Real(f)
}

// CastBlob is CAST(x AS BLOB): the UTF-8 bytes of the text form.
func CastBlob(v Value) Value {
	switch v.Kind() {
	case KindNull, KindBlob:
		return v
	}
	return BlobString(v.AsText())
}

// Cast applies a cast by type name; ok is false for unsupported types.
func Cast(v Value, typ string) (Value, bool) {
	switch typ {
	case "text":
		return CastText(v), true
	case "integer":
		return CastInteger(v), true
	case "real":
		return CastReal(v), true
	case "numeric":
		return CastNumeric(v), true
	case "blob":
		return CastBlob(v), true
	}
	return Null, false
}

// JSON operators (§5.4).

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
