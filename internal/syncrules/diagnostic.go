package syncrules

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/powersync-go/powersync/internal/syncrules/syntax"
)

// diagList collects the diagnostics of one config file.
type diagList struct {
	file *srcFile
	list Diagnostics
}

func (d *diagList) addRange(sev Severity, start, end int, msg string) {
	if end < start {
		end = start
	}
	l1, c1 := d.file.position(start)
	l2, c2 := d.file.position(end)
	d.list = append(d.list, Diagnostic{Severity: sev, Message: msg, Line: l1, Column: c1, EndLine: l2, EndColumn: c2})
}

// atNode reports a diagnostic on a YAML node (nil: the file start).
func (d *diagList) atNode(n ast.Node, sev Severity, format string, args ...any) {
	start, end := d.file.nodeSpan(n)
	d.addRange(sev, start, end, fmt.Sprintf(format, args...))
}

// atSQL reports a diagnostic on a span of a SQL string.
func (d *diagList) atSQL(s *sqlText, sp syntax.Span, sev Severity, msg string) {
	start := s.fileOffset(sp.Start)
	end := start
	if sp.End > sp.Start {
		end = s.fileOffset(sp.End-1) + 1
	}
	d.addRange(sev, start, end, msg)
}

// String formats a diagnostic as "line:col: severity: message".
func (d Diagnostic) String() string {
	sev := "error"
	if d.Severity == SeverityWarning {
		sev = "warning"
	}
	return fmt.Sprintf("%d:%d: %s: %s", d.Line, d.Column, sev, d.Message)
}

// Error joins the fatal diagnostics into one message (for callers that
// need an error).
func (d Diagnostics) Error() string {
	var parts []string
	for _, x := range d {
		if x.Severity == SeverityFatal {
			parts = append(parts, x.String())
		}
	}
	return strings.Join(parts, "; ")
}
