package server

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/powersync-go/powersync/protocol/bson"
)

// lineSink is where a sync stream's lines go. The stream (conn) produces
// the same sequence of lines whatever the transport, each as one JSON
// object followed by '\n'; the sink encodes and sends it: NDJSON over HTTP
// (lineWriter), BSON documents over HTTP (bsonLines), or one RSocket
// PAYLOAD frame per line within the client's credit (rsocketSink).
//
// writeLine blocks until the line is handed to the network (or, for
// RSocket, until the client grants credit), so a stream never runs ahead of
// its client: that is the backpressure, and the only buffer is the line
// being written.
type lineSink interface {
	// writeLine sends one line. The sink must not keep line.
	writeLine(line []byte) error
	// written is the number of encoded bytes sent so far (before any
	// compression), for metrics and logs.
	written() int64
	// idle releases buffers while the stream waits for a checkpoint.
	idle()
	// periodicKeepalive says whether the stream sends token_expires_in
	// lines every keepalive interval (HTTP) or only before and at the
	// token's expiry (RSocket, whose KEEPALIVE frames keep it alive).
	periodicKeepalive() bool
}

var (
	_ lineSink = (*lineWriter)(nil)
	_ lineSink = (*bsonLines)(nil)
)

func (lw *lineWriter) written() int64          { return lw.bytes }
func (lw *lineWriter) periodicKeepalive() bool { return true }

// bsonLines sends each line as one BSON document on an HTTP stream
// (application/vnd.powersync.bson-stream: documents back to back).
type bsonLines struct {
	w   *lineWriter
	doc []byte
}

func (b *bsonLines) writeLine(line []byte) error {
	doc, err := bson.AppendJSON(b.doc[:0], line)
	if err != nil {
		return fmt.Errorf("encode sync line as BSON: %w", err)
	}
	b.doc = doc
	return b.w.writeLine(doc)
}

func (b *bsonLines) written() int64          { return b.w.bytes }
func (b *bsonLines) periodicKeepalive() bool { return true }

func (b *bsonLines) idle() {
	b.doc = nil
	b.w.idle()
}

// Content types of the HTTP sync stream.
const (
	contentTypeNDJSON = "application/x-ndjson"
	// contentTypeBSON is compared for exact equality by clients: it never
	// carries parameters.
	contentTypeBSON = "application/vnd.powersync.bson-stream"
)

// prefersBSON reports whether an Accept header asks for the BSON stream
// over NDJSON: the BSON type (or a wildcard covering it) has a higher
// quality than NDJSON. Without an Accept header, or on a tie, the answer
// is NDJSON, which every client reads.
func prefersBSON(accept string) bool {
	if accept == "" {
		return false
	}
	qb, qn := acceptQuality(accept, contentTypeBSON), acceptQuality(accept, contentTypeNDJSON)
	return qb > 0 && qb > qn
}

// acceptQuality is the quality an Accept header gives the media type mt
// (type/subtype, lower case): the q of the most specific matching range
// (exact, then type/*, then */*), 0 when none matches. Malformed q values
// count as 0.
func acceptQuality(accept, mt string) float64 {
	typ, _, _ := strings.Cut(mt, "/")
	best, bestSpec := 0.0, -1
	for part := range strings.SplitSeq(accept, ",") {
		rng, params, _ := strings.Cut(part, ";")
		rng = strings.ToLower(strings.TrimSpace(rng))
		spec := -1
		switch {
		case rng == mt:
			spec = 2
		case rng == typ+"/*":
			spec = 1
		case rng == "*/*":
			spec = 0
		}
		if spec < bestSpec || spec < 0 {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				f = 0
			}
			q = f
		}
		if spec > bestSpec || q > best {
			best, bestSpec = q, spec
		}
	}
	return best
}
