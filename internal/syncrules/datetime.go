package syncrules

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/powersync-go/powersync/internal/sqlvalue"
)

// unixepoch() and datetime() (§5.5) work on milliseconds since the Unix
// epoch, the precision of the reference's JavaScript Date.

// timeModifiers reads the optional modifiers: ok is false for any
// combination the reference does not accept.
func timeModifiers(mods []sqlvalue.Value) (unix, subsec, ok bool) {
	for i, m := range mods {
		if m.Kind() != sqlvalue.KindText {
			return false, false, false
		}
		switch strings.ToLower(m.Str()) {
		case "unixepoch":
			if i != 0 {
				return false, false, false
			}
			unix = true
		case "subsec", "subsecond":
			if subsec {
				return false, false, false
			}
			subsec = true
		default:
			return false, false, false
		}
	}
	return unix, subsec, true
}

// timeMillis converts the time value argument to Unix milliseconds.
func timeMillis(v sqlvalue.Value, unix bool) (float64, bool) {
	switch v.Kind() {
	case sqlvalue.KindInteger, sqlvalue.KindReal:
		f := toFloat(v)
		if unix {
			return f * 1000, true
		}
		return julianToMillis(f), true
	case sqlvalue.KindText:
		s := strings.TrimSpace(v.Str())
		if isJulianText(s) {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return 0, false
			}
			if unix {
				return f * 1000, true
			}
			return julianToMillis(f), true
		}
		ms, ok := parseISOTime(s)
		return float64(ms), ok
	}
	return 0, false
}

func isJulianText(s string) bool {
	if s == "" {
		return false
	}
	dot := false
	digits := 0
	for i := 0; i < len(s); i++ {
		switch {
		case isDigit(s[i]):
			digits++
		case s[i] == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

func julianToMillis(jd float64) float64 {
	return (jd - 2440587.5) * 86400000
}

// parseISOTime parses YYYY-MM-DD[( |T)hh:mm[:ss[.fff]]][Z|±hh:mm]; no zone
// means UTC.
func parseISOTime(s string) (int64, bool) {
	num := func(t string, n int) (int, string, bool) {
		if len(t) < n {
			return 0, t, false
		}
		v := 0
		for i := 0; i < n; i++ {
			if !isDigit(t[i]) {
				return 0, t, false
			}
			v = v*10 + int(t[i]-'0')
		}
		return v, t[n:], true
	}
	var y, mo, d, h, mi, sec int
	var ok bool
	t := s
	neg := false
	if strings.HasPrefix(t, "-") {
		neg, t = true, t[1:]
	}
	if y, t, ok = num(t, 4); !ok || !strings.HasPrefix(t, "-") {
		return 0, false
	}
	if neg {
		y = -y
	}
	if mo, t, ok = num(t[1:], 2); !ok || !strings.HasPrefix(t, "-") {
		return 0, false
	}
	if d, t, ok = num(t[1:], 2); !ok {
		return 0, false
	}
	var nanos int
	if t != "" && (t[0] == ' ' || t[0] == 'T' || t[0] == 't') {
		if h, t, ok = num(t[1:], 2); !ok || !strings.HasPrefix(t, ":") {
			return 0, false
		}
		if mi, t, ok = num(t[1:], 2); !ok {
			return 0, false
		}
		if strings.HasPrefix(t, ":") {
			if sec, t, ok = num(t[1:], 2); !ok {
				return 0, false
			}
			if strings.HasPrefix(t, ".") {
				t = t[1:]
				n := 0
				scale := 100000000
				for n < len(t) && isDigit(t[n]) {
					if scale > 0 {
						nanos += int(t[n]-'0') * scale
						scale /= 10
					}
					n++
				}
				if n == 0 {
					return 0, false
				}
				t = t[n:]
			}
		}
	}
	offset := 0
	switch {
	case t == "":
	case t == "Z" || t == "z":
	case len(t) == 6 && (t[0] == '+' || t[0] == '-') && t[3] == ':':
		oh, _, ok1 := num(t[1:3], 2)
		om, _, ok2 := num(t[4:6], 2)
		if !ok1 || !ok2 {
			return 0, false
		}
		offset = oh*60 + om
		if t[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || sec > 60 {
		return 0, false
	}
	tm := time.Date(y, time.Month(mo), d, h, mi, sec, nanos, time.UTC)
	return tm.UnixMilli() - int64(offset)*60000, true
}

// timeArg reads the time value and modifiers of unixepoch() and
// datetime(): the time in milliseconds since the Unix epoch and whether
// 'subsec' was given. ok is false when the result is NULL (a NULL or
// unreadable time, an unknown modifier, a non-finite time).
func timeArg(a []sqlvalue.Value) (ms float64, subsec, ok bool) {
	if a[0].Kind() == sqlvalue.KindNull {
		return 0, false, false
	}
	unix, subsec, ok := timeModifiers(a[1:])
	if !ok {
		return 0, false, false
	}
	ms, ok = timeMillis(a[0], unix)
	if !ok || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return 0, false, false
	}
	return ms, subsec, true
}

func fnUnixepoch(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	ms, subsec, ok := timeArg(a)
	if !ok {
		return sqlvalue.Null, nil
	}
	if subsec {
		return sqlvalue.Real(math.Round(ms) / 1000), nil
	}
	return sqlvalue.Int(int64(math.Floor(ms / 1000))), nil
}

func fnDatetime(_ evalOptions, a []sqlvalue.Value) (sqlvalue.Value, error) {
	ms, subsec, ok := timeArg(a)
	if !ok || math.Abs(ms) > 8.64e15 {
		return sqlvalue.Null, nil
	}
	t := time.UnixMilli(int64(math.Round(ms))).UTC()
	return sqlvalue.Text(formatSQLiteTime(t, subsec)), nil
}

func formatSQLiteTime(t time.Time, subsec bool) string {
	y := t.Year()
	var ys string
	if y < 0 {
		ys = fmt.Sprintf("-%04d", -y)
	} else {
		ys = fmt.Sprintf("%04d", y)
	}
	s := fmt.Sprintf("%s-%02d-%02d %02d:%02d:%02d", ys, int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
	if subsec {
		s += fmt.Sprintf(".%03d", t.Nanosecond()/1e6)
	}
	return s
}
