package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// collector gathers diagnostics for one source.
type collector struct {
	file  string
	diags []Diagnostic
}

// add records a problem about path; the message is prefixed with the path.
func (c *collector) add(sev Severity, p pos, path, msg string) {
	if path != "" {
		msg = path + ": " + msg
	}
	c.addRaw(sev, p, path, msg)
}

// addRaw records a problem whose message already says where it is.
func (c *collector) addRaw(sev Severity, p pos, path, msg string) {
	c.diags = append(c.diags, Diagnostic{File: c.file, Line: p.line, Column: p.col, Severity: sev, Path: path, Message: msg})
}

func (c *collector) errorf(p pos, path, format string, args ...any) {
	c.add(SeverityError, p, path, fmt.Sprintf(format, args...))
}

func (c *collector) warnf(p pos, path, format string, args ...any) {
	c.add(SeverityWarning, p, path, fmt.Sprintf(format, args...))
}

// split returns the errors and the warnings, each in source order
// (problems without a position last).
func (c *collector) split() (errs, warns []Diagnostic) {
	sort.SliceStable(c.diags, func(i, j int) bool {
		a, b := c.diags[i], c.diags[j]
		if (a.Line == 0) != (b.Line == 0) {
			return b.Line == 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	for _, d := range c.diags {
		if d.Severity == SeverityError {
			errs = append(errs, d)
		} else {
			warns = append(warns, d)
		}
	}
	return errs, warns
}

// decoder fills a Config from a node tree, reporting into c.
type decoder struct {
	c *collector
	// at records where the value of every known key is written, by dotted
	// path (Config.Where reads it).
	at map[string]pos
}

// field is one known key of a mapping and what to do with its value.
type field struct {
	name string
	fn   func(n *node, path string)
}

// hints explain keys that are valid elsewhere (PowerSync Cloud, older
// versions) but not here, keyed by full path.
var hints = map[string]string{
	"client_auth.additional_audiences": `additional_audiences is a PowerSync Cloud setting; a self-hosted config lists every accepted audience under client_auth.audience`,
	"client_auth.allow_local_jwks":     `allow_local_jwks no longer exists: local JWKS URLs are allowed unless jwks_reject_ip_ranges blocks them`,
}

// object walks a mapping, calling the field handler of each known key and
// reporting unknown keys with the nearest known one. A null value counts as
// an empty mapping. It returns the entries that were present.
func (d *decoder) object(n *node, path string, fields []field) (map[string]entry, bool) {
	present := map[string]entry{}
	if n.kind == kindNull {
		return present, true
	}
	if n.kind != kindMap {
		d.c.errorf(n.pos, path, "expected a mapping (indented `key: value` lines), got %s", describe(n))
		return present, false
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	for _, e := range n.entries {
		var fn func(*node, string)
		for _, f := range fields {
			if f.name == e.key {
				fn = f.fn
				break
			}
		}
		if fn == nil {
			d.unknownKey(e, path, names)
			continue
		}
		present[e.key] = e
		if d.at != nil {
			p := e.val.pos
			if p.line == 0 {
				p = e.keyPos
			}
			d.at[joinPath(path, e.key)] = p
		}
		fn(e.val, joinPath(path, e.key))
	}
	return present, true
}

func (d *decoder) unknownKey(e entry, path string, names []string) {
	full := joinPath(path, e.key)
	if h, ok := hints[full]; ok {
		d.c.addRaw(SeverityError, e.keyPos, full, h)
		return
	}
	where := "in " + path
	if path == "" {
		where = "at the top level"
	}
	msg := fmt.Sprintf("unknown key %q %s", e.key, where)
	if s := suggest(e.key, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += "; known keys: " + strings.Join(names, ", ")
	}
	d.c.addRaw(SeverityError, e.keyPos, full, msg)
}

// describe names a value for "expected X, got Y" messages.
func describe(n *node) string {
	var s string
	switch n.kind {
	case kindNull:
		s = "nothing"
	case kindBool:
		s = "boolean " + strconv.FormatBool(n.b)
	case kindInt, kindFloat:
		s = "number " + n.str
	case kindString:
		switch {
		case n.env != "":
			// Values from the environment are often secrets: never echo them.
			return fmt.Sprintf("a string of %d characters (from !env %s)", len(n.str), n.env)
		case n.block:
			s = "a block of text"
		case len(n.str) > 40:
			s = fmt.Sprintf("%q", n.str[:37]+"...")
		default:
			s = fmt.Sprintf("%q", n.str)
		}
	case kindMap:
		s = "a mapping"
	case kindSeq:
		s = "a list"
	}
	if n.env != "" {
		s += " (from !env " + n.env + ")"
	}
	return s
}

// str reads a string. Numbers and booleans are taken as written (a numeric
// password needs no quotes); null means "not set".
func (d *decoder) str(n *node, path string) (string, bool) {
	switch n.kind {
	case kindNull:
		return "", false
	case kindString, kindInt, kindFloat, kindBool:
		return n.str, true
	}
	d.c.errorf(n.pos, path, "expected a string, got %s", describe(n))
	return "", false
}

// integer reads a whole number in [lo, hi]; a string holding one is
// accepted too (so `port: !env PS_PORT` works without ::number).
func (d *decoder) integer(n *node, path string, lo, hi int64) (int64, bool) {
	var v int64
	switch n.kind {
	case kindNull:
		return 0, false
	case kindInt:
		v = n.i
	case kindFloat:
		if n.f != math.Trunc(n.f) || math.Abs(n.f) > 1<<53 {
			d.c.errorf(n.pos, path, "expected a whole number, got %s", describe(n))
			return 0, false
		}
		v = int64(n.f)
	case kindString:
		x, err := strconv.ParseInt(strings.TrimSpace(n.str), 10, 64)
		if err != nil {
			d.c.errorf(n.pos, path, "expected a whole number, got %s", describe(n))
			return 0, false
		}
		v = x
	default:
		d.c.errorf(n.pos, path, "expected a whole number, got %s", describe(n))
		return 0, false
	}
	if v < lo || v > hi {
		if hi == math.MaxInt64 {
			d.c.errorf(n.pos, path, "must be at least %d, got %d", lo, v)
		} else {
			d.c.errorf(n.pos, path, "must be between %d and %d, got %d", lo, hi, v)
		}
		return 0, false
	}
	return v, true
}

func (d *decoder) intInto(dst *int, lo, hi int64) func(*node, string) {
	return func(n *node, path string) {
		if v, ok := d.integer(n, path, lo, hi); ok {
			*dst = int(v)
		}
	}
}

func (d *decoder) boolean(n *node, path string) (bool, bool) {
	switch n.kind {
	case kindNull:
		return false, false
	case kindBool:
		return n.b, true
	case kindString:
		if n.env != "" {
			d.c.errorf(n.pos, path, "expected true or false, got %s; write !env %s::boolean to read the variable as a boolean", describe(n), n.env)
			return false, false
		}
	}
	d.c.errorf(n.pos, path, "expected true or false, got %s", describe(n))
	return false, false
}

func (d *decoder) boolInto(dst *bool) func(*node, string) {
	return func(n *node, path string) {
		if v, ok := d.boolean(n, path); ok {
			*dst = v
		}
	}
}

func (d *decoder) strInto(dst *string) func(*node, string) {
	return func(n *node, path string) {
		if v, ok := d.str(n, path); ok {
			*dst = v
		}
	}
}

// enum reads a string that must be one of options.
func (d *decoder) enum(n *node, path string, options []string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	for _, o := range options {
		if s == o {
			return s, true
		}
	}
	msg := fmt.Sprintf("expected one of %s, got %s", quoteList(options), describe(n))
	if sg := suggest(s, options); sg != "" {
		msg += fmt.Sprintf("; did you mean %q?", sg)
	}
	d.c.add(SeverityError, n.pos, path, msg)
	return "", false
}

// stringList reads a list of non-empty strings; with single, one string
// alone is accepted as a list of one.
func (d *decoder) stringList(n *node, path string, single bool) ([]string, []pos) {
	switch n.kind {
	case kindNull:
		return nil, nil
	case kindString:
		if single {
			if n.str == "" {
				d.c.errorf(n.pos, path, "must not be empty")
				return nil, nil
			}
			return []string{n.str}, []pos{n.pos}
		}
	case kindSeq:
		var out []string
		var ps []pos
		for i, it := range n.items {
			p := fmt.Sprintf("%s[%d]", path, i)
			if it.kind != kindString {
				d.c.errorf(it.pos, p, "expected a string, got %s", describe(it))
				continue
			}
			if strings.TrimSpace(it.str) == "" {
				d.c.errorf(it.pos, p, "must not be empty")
				continue
			}
			out = append(out, it.str)
			ps = append(ps, it.pos)
		}
		return out, ps
	}
	if single {
		d.c.errorf(n.pos, path, "expected a string or a list of strings, got %s", describe(n))
	} else {
		d.c.errorf(n.pos, path, "expected a list of strings, got %s", describe(n))
	}
	return nil, nil
}

// duration reads "1d", "12h", "30m", "3600s", "1h30m" or a number of
// seconds.
func (d *decoder) duration(n *node, path string) (time.Duration, bool) {
	switch n.kind {
	case kindNull:
		return 0, false
	case kindInt:
		return time.Duration(n.i) * time.Second, true
	case kindFloat:
		return time.Duration(n.f * float64(time.Second)), true
	case kindString:
		v, err := ParseDuration(n.str)
		if err == nil {
			return v, true
		}
	}
	d.c.errorf(n.pos, path, `expected a duration like "1d", "12h", "30m", "3600s" or a number of seconds, got %s`, describe(n))
	return 0, false
}

var durationUnits = map[string]time.Duration{
	"ms": time.Millisecond, "msec": time.Millisecond, "millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
}

// ParseDuration reads a duration as written in service.yaml: a number of
// seconds ("3600"), a number and a unit ("1d", "12 h", "2 days"; units ms, s,
// m, h, d, w and their long names), or a Go duration ("1h30m").
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if v, err := strconv.ParseFloat(t, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) && !strings.ContainsAny(t, "nNiIxX_") {
		return time.Duration(v * float64(time.Second)), nil
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	if i > 0 {
		if unit, ok := durationUnits[strings.ToLower(strings.TrimSpace(t[i:]))]; ok {
			v, err := strconv.ParseFloat(t[:i], 64)
			if err == nil {
				return time.Duration(v * float64(unit)), nil
			}
		}
	}
	v, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return v, nil
}

// toAny converts a node to plain Go values (for JWKs and parameters).
func toAny(n *node) any {
	switch n.kind {
	case kindBool:
		return n.b
	case kindInt:
		return n.i
	case kindFloat:
		return n.f
	case kindString:
		return n.str
	case kindSeq:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = toAny(it)
		}
		return out
	case kindMap:
		out := make(map[string]any, len(n.entries))
		for _, e := range n.entries {
			out[e.key] = toAny(e.val)
		}
		return out
	}
	return nil
}
