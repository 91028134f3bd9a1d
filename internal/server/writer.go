package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// lineWriter writes whole NDJSON lines to one client: each line goes out at
// once (through gzip and the HTTP framing), under a write deadline, so a
// client that stops reading is disconnected instead of holding anything up.
// The only buffering is the line being written.
//
// It writes either through net/http (rw, rc) or, for a connection taken
// over from net/http, straight to the socket with chunked framing (conn).
type lineWriter struct {
	rw      http.ResponseWriter
	rc      *http.ResponseController
	conn    net.Conn
	gz      *gzip.Writer
	zenc    *zstd.Encoder // shared by all streams; each line is one zstd frame
	zout    []byte
	zbuf    *bytes.Buffer // gzip output on conn, sent as one chunk per line
	timeout time.Duration
	bytes   int64
	hdr     []byte
}

func newLineWriter(w http.ResponseWriter, useGzip bool, timeout time.Duration) *lineWriter {
	lw := &lineWriter{rw: w, rc: http.NewResponseController(w), timeout: timeout}
	if useGzip {
		lw.gz, _ = gzip.NewWriterLevel(w, gzipLevel)
	}
	return lw
}

// gzipLevel is stateless: each line is compressed on its own, so a waiting
// connection holds no compressor state (a stateful gzip writer keeps ~800 KB
// per connection). Lines are up to 1 MiB, so they still compress well.
const gzipLevel = gzip.StatelessCompression

// hijack takes an HTTP/1.x connection over from net/http. The request body
// has been read. It returns nil when that is not possible (HTTP/2, or a
// writer that cannot hijack); the caller then streams through net/http.
func hijack(w http.ResponseWriter, r *http.Request) net.Conn {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 {
		return nil // HTTP/2 multiplexes; HTTP/1.0 has no chunked encoding
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil
	}
	if brw.Reader.Buffered() > 0 {
		// A pipelined request after a streaming one cannot be answered.
		_ = nc.Close()
		return nil
	}
	return nc
}

// newChunkedLineWriter writes the response head (status 200, h, chunked,
// Connection: close) to nc and returns a writer of chunked lines.
func newChunkedLineWriter(nc net.Conn, h http.Header, useGzip bool, timeout time.Duration) (*lineWriter, error) {
	lw := &lineWriter{conn: nc, timeout: timeout}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&head)
	head.WriteString("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	if err := lw.writeRaw(head.Bytes()); err != nil {
		return nil, err
	}
	if useGzip {
		lw.zbuf = new(bytes.Buffer)
		lw.gz, _ = gzip.NewWriterLevel(lw.zbuf, gzipLevel)
	}
	return lw, nil
}

func (lw *lineWriter) writeRaw(b []byte) error {
	if err := lw.conn.SetWriteDeadline(time.Now().Add(lw.timeout)); err != nil {
		return err
	}
	_, err := lw.conn.Write(b)
	return err
}

// writeChunk sends p as one HTTP chunk.
func (lw *lineWriter) writeChunk(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if err := lw.conn.SetWriteDeadline(time.Now().Add(lw.timeout)); err != nil {
		return err
	}
	lw.hdr = append(strconv.AppendInt(lw.hdr[:0], int64(len(p)), 16), '\r', '\n')
	bufs := net.Buffers{lw.hdr, p, crlf}
	_, err := bufs.WriteTo(lw.conn)
	return err
}

var crlf = []byte("\r\n")

// writeLine writes b, which must end with '\n', and flushes it.
func (lw *lineWriter) writeLine(b []byte) error {
	n := len(b)
	if lw.zenc != nil {
		// An independent frame per line: no compressor state is kept
		// between lines, and concatenated frames are one zstd stream.
		lw.zout = lw.zenc.EncodeAll(b, lw.zout[:0])
		b = lw.zout
	}
	if lw.conn != nil {
		p := b
		if lw.gz != nil {
			if _, err := lw.gz.Write(b); err != nil {
				return err
			}
			if err := lw.gz.Flush(); err != nil {
				return err
			}
			p = lw.zbuf.Bytes()
		}
		err := lw.writeChunk(p)
		if lw.zbuf != nil {
			lw.zbuf.Reset()
		}
		if err != nil {
			return err
		}
		lw.bytes += int64(n)
		return nil
	}
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
	lw.bytes += int64(n)
	if err := lw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// idle releases buffers while the stream waits.
func (lw *lineWriter) idle() {
	if lw.zbuf != nil && lw.zbuf.Cap() > 4096 {
		*lw.zbuf = bytes.Buffer{}
	}
	lw.hdr = nil
	if cap(lw.zout) > 4096 {
		lw.zout = nil
	}
}

// close ends the gzip stream, if any, and the chunked body.
func (lw *lineWriter) close() {
	if lw.conn != nil {
		if lw.gz != nil && lw.gz.Close() == nil {
			_ = lw.writeChunk(lw.zbuf.Bytes())
		}
		_ = lw.writeRaw([]byte("0\r\n\r\n"))
		return
	}
	if lw.gz != nil {
		_ = lw.rc.SetWriteDeadline(time.Now().Add(lw.timeout))
		_ = lw.gz.Close()
	}
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(header string) bool { return acceptsEncoding(header, "gzip") }

// acceptsEncoding reports whether an Accept-Encoding header names coding
// with a non-zero quality.
func acceptsEncoding(header, coding string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// zstdEncoder returns the process's zstd encoder, created on first use.
// EncodeAll is safe for concurrent use, so every stream shares it.
func (s *Server) zstdEncoder() *zstd.Encoder {
	s.zstdOnce.Do(func() {
		s.zstd, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithLowerEncoderMem(true))
	})
	return s.zstd
}
