package server

import (
	"net/http"

	"github.com/powersync-go/powersync/web/dashboard"
)

// dashboardHandler serves the embedded dashboard under /dashboard/. The
// assets are public; everything the page shows comes from the admin API
// with the admin token the user signs in with.
func dashboardHandler() http.Handler {
	files := http.StripPrefix("/dashboard/", http.FileServerFS(dashboard.FS()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
		files.ServeHTTP(w, r)
	})
}
