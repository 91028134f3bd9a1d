package config

import (
	"errors"
	"fmt"
	"strings"
)

// Severity of a Diagnostic.
type Severity string

// Severities.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem found in a config, at a 1-based line and column
// of File (0 when the problem has no position, e.g. a missing file).
type Diagnostic struct {
	File     string
	Line     int
	Column   int
	Severity Severity
	// Path is the dotted key path the problem is about ("storage.type",
	// "client_auth.jwks.keys[0].kid"), "" for the file as a whole.
	Path string
	// Message is the whole message, including the path where it helps.
	Message string
}

// String is the one-line form: "file:line:col: message", with "warning: "
// before the message of a warning.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.location())
	if d.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Message)
	return b.String()
}

func (d Diagnostic) location() string {
	switch {
	case d.File == "":
		return ""
	case d.Line <= 0:
		return d.File + ": "
	case d.Column <= 0:
		return fmt.Sprintf("%s:%d: ", d.File, d.Line)
	default:
		return fmt.Sprintf("%s:%d:%d: ", d.File, d.Line, d.Column)
	}
}

// Format renders d like FormatDiagnostic, with src the text of d.File.
func (d Diagnostic) Format(src []byte) string {
	return FormatDiagnostic(d.File, src, d.Line, d.Column, string(d.Severity), d.Message)
}

// FormatDiagnostic renders one problem for a terminal:
//
//	service.yaml:12:9: error: storage.type: expected one of "pebble", "postgresql", got "mongo"
//	   12 |   type: mongo
//	      |         ^
//
// line and col are 1-based; with line 0 only the first line is printed, and
// with col 0 the caret is left out. Tabs before the column are kept so the
// caret lines up. The result ends with a newline.
func FormatDiagnostic(file string, src []byte, line, col int, severity, msg string) string {
	var b strings.Builder
	switch {
	case file == "":
	case line <= 0:
		fmt.Fprintf(&b, "%s: ", file)
	case col <= 0:
		fmt.Fprintf(&b, "%s:%d: ", file, line)
	default:
		fmt.Fprintf(&b, "%s:%d:%d: ", file, line, col)
	}
	if severity != "" {
		b.WriteString(severity)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	b.WriteByte('\n')
	text, ok := sourceLine(src, line)
	if !ok {
		return b.String()
	}
	num := fmt.Sprintf("%d", line)
	gutter := strings.Repeat(" ", len(num))
	fmt.Fprintf(&b, " %s | %s\n", num, text)
	if col > 0 {
		var pad strings.Builder
		i := 1
		for _, r := range text {
			if i >= col {
				break
			}
			if r == '\t' {
				pad.WriteByte('\t')
			} else {
				pad.WriteByte(' ')
			}
			i++
		}
		// A column past the end of the line (an empty value) points just
		// after the last character.
		for ; i < col; i++ {
			pad.WriteByte(' ')
		}
		fmt.Fprintf(&b, " %s | %s^\n", gutter, pad.String())
	}
	return b.String()
}

// sourceLine returns line n (1-based) of src without its line ending.
func sourceLine(src []byte, n int) (string, bool) {
	if n <= 0 || len(src) == 0 {
		return "", false
	}
	s := string(src)
	for i := 1; i < n; i++ {
		j := strings.IndexByte(s, '\n')
		if j < 0 {
			return "", false
		}
		s = s[j+1:]
	}
	if j := strings.IndexByte(s, '\n'); j >= 0 {
		s = s[:j]
	}
	return strings.TrimRight(s, "\r"), true
}

// Error is what Load and Parse return when a config has errors: every error
// found, in source order, and the text they point into.
type Error struct {
	// Source is the text of the config (nil when it could not be read) and
	// SourceName the file name diagnostics use for it.
	Source     []byte
	SourceName string
	// Diagnostics are the errors (never warnings), at least one.
	Diagnostics []Diagnostic
	// Warnings found before giving up, for callers that print everything.
	Warnings []Diagnostic

	cause error
}

// Error lists every problem, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// Format renders every error and warning with its source line and caret.
func (e *Error) Format() string {
	var b strings.Builder
	for _, d := range e.Diagnostics {
		b.WriteString(d.Format(e.sourceOf(d)))
	}
	for _, d := range e.Warnings {
		b.WriteString(d.Format(e.sourceOf(d)))
	}
	return b.String()
}

// sourceOf is the text d points into, nil when d is about another file.
func (e *Error) sourceOf(d Diagnostic) []byte {
	if d.File != e.SourceName {
		return nil
	}
	return e.Source
}

// ErrNotFound is returned (wrapped in an *Error) when no config was given
// and discovery found none. Commands that can run without a config (generate
// token with --private-key, verify token) test for it with errors.Is.
var ErrNotFound = errors.New("no config found")

// Unwrap returns the cause behind the diagnostics, when there is one
// (ErrNotFound, or an error reading the file).
func (e *Error) Unwrap() error { return e.cause }
