package server

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// lineWriter writes whole NDJSON lines to one client: each line goes out at
// once (flushed through gzip and the HTTP layer), under a write deadline, so
// a client that stops reading is disconnected instead of holding anything
// up. The only buffering is the line being written.
type lineWriter struct {
	rw      http.ResponseWriter
	rc      *http.ResponseController
	gz      *gzip.Writer
	timeout time.Duration
	bytes   int64
}

func newLineWriter(w http.ResponseWriter, useGzip bool, timeout time.Duration) *lineWriter {
	lw := &lineWriter{rw: w, rc: http.NewResponseController(w), timeout: timeout}
	if useGzip {
		// Stateless: each line is compressed on its own, so a waiting
		// connection holds no compressor state (a stateful gzip writer
		// keeps ~800 KB per connection). Lines are up to 1 MiB, so they
		// still compress well.
		lw.gz, _ = gzip.NewWriterLevel(w, gzip.StatelessCompression)
	}
	return lw
}

// writeLine writes b, which must end with '\n', and flushes it.
func (lw *lineWriter) writeLine(b []byte) error {
	if err := lw.rc.SetWriteDeadline(time.Now().Add(lw.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	var out io.Writer = lw.rw
	if lw.gz != nil {
		out = lw.gz
	}
	if _, err := out.Write(b); err != nil {
		return err
	}
	if lw.gz != nil {
		if err := lw.gz.Flush(); err != nil {
			return err
		}
	}
	lw.bytes += int64(len(b))
	if err := lw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// close ends the gzip stream, if any.
func (lw *lineWriter) close() {
	if lw.gz != nil {
		_ = lw.rc.SetWriteDeadline(time.Now().Add(lw.timeout))
		_ = lw.gz.Close()
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
