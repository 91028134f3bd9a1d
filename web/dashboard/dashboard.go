// Package dashboard holds the static assets of the instance dashboard
// (/dashboard): one HTML page, its script and style sheet, embedded in the
// binary. The page fetches nothing but the instance's own admin API.
package dashboard

import (
	"embed"
	"io/fs"
)

//go:embed index.html app.js style.css
var files embed.FS

// FS returns the dashboard's files.
func FS() fs.FS { return files }
