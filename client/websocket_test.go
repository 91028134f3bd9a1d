package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/powersync-go/powersync/client"
	"github.com/powersync-go/powersync/protocol"
	"github.com/powersync-go/powersync/protocol/bson"
	"github.com/powersync-go/powersync/protocol/rsocket"
)

// These tests put the client's WebSocket transport against a scripted
// peer: a handler that accepts the WebSocket, checks what the client sends
// and answers with frames chosen by the test, including broken ones. The
// end-to-end tests against the real service are TestStreamTransports and
// TestSyncWithDevService.

// wsPeer is the service side of one scripted connection.
type wsPeer struct {
	t    *testing.T
	conn *websocket.Conn
	ctx  context.Context
}

func (p *wsPeer) read() rsocket.Frame {
	p.t.Helper()
	typ, b, err := p.conn.Read(p.ctx)
	if err != nil {
		p.t.Errorf("peer read: %v", err)
		return rsocket.Frame{}
	}
	if typ != websocket.MessageBinary {
		p.t.Errorf("client sent a %v message", typ)
	}
	f, err := rsocket.Decode(b)
	if err != nil {
		p.t.Errorf("client sent a malformed frame: %v", err)
	}
	return f
}

func (p *wsPeer) send(b []byte) {
	if err := p.conn.Write(p.ctx, websocket.MessageBinary, b); err != nil {
		p.t.Logf("peer write: %v", err)
	}
}

func (p *wsPeer) sendFrame(f rsocket.Frame) {
	p.t.Helper()
	b, err := f.Append(nil)
	if err != nil {
		p.t.Fatalf("encode %v: %v", f.Type, err)
	}
	p.send(b)
}

func (p *wsPeer) sendLine(json string) {
	p.t.Helper()
	doc, err := bson.AppendJSON(nil, []byte(json))
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendFrame(rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagNext, Data: doc})
}

// handshake reads SETUP and REQUEST_STREAM and checks them; it returns the
// initial credit.
func (p *wsPeer) handshake(token string) uint32 {
	p.t.Helper()
	setup := p.read()
	var meta struct {
		Token     string `json:"token"`
		UserAgent string `json:"user_agent"`
	}
	if setup.Type != rsocket.TypeSetup || setup.MajorVersion != 1 || setup.KeepaliveMS == 0 || setup.LifetimeMS == 0 ||
		setup.MetadataMIME != "application/json" || json.Unmarshal(setup.Metadata, &meta) != nil || meta.Token != "Token "+token {
		p.t.Errorf("SETUP %+v (metadata %s)", setup, setup.Metadata)
	}
	rs := p.read()
	var path struct {
		Path string `json:"path"`
	}
	var req protocol.StreamingSyncRequest
	if rs.Type != rsocket.TypeRequestStream || rs.StreamID != 1 || json.Unmarshal(rs.Metadata, &path) != nil || path.Path != "/sync/stream" ||
		json.Unmarshal(rs.Data, &req) != nil || req.ClientID != "ws-test" {
		p.t.Errorf("REQUEST_STREAM %+v (metadata %s, data %s)", rs, rs.Metadata, rs.Data)
	}
	return rs.N
}

// scriptedService serves one WebSocket per connection with script.
func scriptedService(t *testing.T, script func(p *wsPeer)) string {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sync/stream" {
			http.NotFound(w, r)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer c.CloseNow()
		c.SetReadLimit(rsocket.MaxFrameSize)
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		script(&wsPeer{t: t, conn: c, ctx: ctx})
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return srv.URL
}

func openWS(t *testing.T, endpoint string, credit int) (*client.Stream, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return client.OpenStreamWith(ctx, client.Credentials{Endpoint: endpoint, Token: "tok"},
		&protocol.StreamingSyncRequest{ClientID: "ws-test", RawData: true},
		client.StreamOptions{Transport: client.TransportWebSocket, Credit: credit})
}

// TestWebSocketCredit: the client asks for its credit up front and grants
// more only as it consumes lines, so a peer that sends exactly what it was
// granted delivers every line and never runs ahead.
func TestWebSocketCredit(t *testing.T) {
	const lines, credit = 23, 4
	granted := make(chan uint32, 64)
	endpoint := scriptedService(t, func(p *wsPeer) {
		avail := p.handshake("tok")
		granted <- avail
		for sent := 0; sent < lines; {
			for ; avail > 0 && sent < lines; avail-- {
				p.sendLine(fmt.Sprintf(`{"token_expires_in":%d}`, 1000+sent))
				sent++
			}
			if sent == lines {
				break
			}
			f := p.read()
			if f.Type != rsocket.TypeRequestN || f.StreamID != 1 {
				p.t.Errorf("want REQUEST_N, got %v", f.Type)
				return
			}
			avail += f.N
			granted <- f.N
		}
		p.sendFrame(rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagComplete})
		_ = p.conn.Close(websocket.StatusNormalClosure, "")
	})
	st, err := openWS(t, endpoint, credit)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := <-granted; n != credit {
		t.Fatalf("initial credit %d, want %d", n, credit)
	}
	var total uint32 = credit
	for i := range lines {
		l, err := st.Next()
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if l.TokenExpiresIn == nil || *l.TokenExpiresIn != int64(1000+i) {
			t.Fatalf("line %d: %s", i, l.Raw)
		}
		// Every grant so far was made for a line already consumed.
	drain:
		for {
			select {
			case n := <-granted:
				total += n
			default:
				break drain
			}
		}
		if total > uint32(i+1)+credit {
			t.Fatalf("after %d lines the client granted %d: more than it consumed plus its window of %d", i+1, total, credit)
		}
	}
	if _, err := st.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after COMPLETE: %v, want io.EOF", err)
	}
	if st.Encoding() != "bson" || st.Bytes() == 0 {
		t.Errorf("encoding %q, bytes %d", st.Encoding(), st.Bytes())
	}
}

// TestWebSocketAuthError: an ERROR frame with a PSYNC_S21xx code at the
// start is an authorization error of the open, like an HTTP 401.
func TestWebSocketAuthError(t *testing.T) {
	endpoint := scriptedService(t, func(p *wsPeer) {
		p.handshake("tok")
		p.send(rsocket.AppendError(nil, 0, rsocket.ErrRejectedSetup, "[PSYNC_S2103] JWT has expired"))
	})
	_, err := openWS(t, endpoint, 0)
	var se *client.StreamError
	if !errors.As(err, &se) || se.Code != "PSYNC_S2103" || !client.IsUnauthorized(err) || client.ErrorCode(err) != "PSYNC_S2103" {
		t.Fatalf("error %v (%T), want a StreamError with PSYNC_S2103", err, err)
	}
}

// TestWebSocketKeepaliveEcho: a KEEPALIVE with the respond flag is echoed
// without it, with the same data, while the client waits for lines.
func TestWebSocketKeepaliveEcho(t *testing.T) {
	echoed := make(chan rsocket.Frame, 1)
	endpoint := scriptedService(t, func(p *wsPeer) {
		p.handshake("tok")
		p.sendLine(`{"token_expires_in":60}`)
		p.send(rsocket.AppendKeepalive(nil, true, 0, []byte("ping")))
		echoed <- p.read()
		p.sendLine(`{"token_expires_in":59}`)
		p.sendFrame(rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagComplete})
	})
	st, err := openWS(t, endpoint, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for range 2 {
		if _, err := st.Next(); err != nil {
			t.Fatal(err)
		}
	}
	f := <-echoed
	if f.Type != rsocket.TypeKeepalive || f.Flags&rsocket.FlagRespond != 0 || string(f.Data) != "ping" {
		t.Errorf("echo %+v", f)
	}
}

// TestWebSocketHostilePeer: broken or out-of-protocol frames from the peer
// end the stream with an error, never with a line, a hang or a panic.
func TestWebSocketHostilePeer(t *testing.T) {
	payload := func(data []byte) []byte {
		b, _ := (&rsocket.Frame{StreamID: 1, Type: rsocket.TypePayload, Flags: rsocket.FlagNext, Data: data}).Append(nil)
		return b
	}
	goodDoc, _ := bson.AppendJSON(nil, []byte(`{"token_expires_in":1}`))
	cases := map[string]func(p *wsPeer){
		"truncated header": func(p *wsPeer) { p.send([]byte{0, 0, 0}) },
		"payload that is not BSON": func(p *wsPeer) {
			p.send(payload([]byte("not a BSON document")))
		},
		"BSON length lies": func(p *wsPeer) {
			doc := append([]byte(nil), goodDoc...)
			doc[0] += 10
			p.send(payload(doc))
		},
		"payload on another stream": func(p *wsPeer) {
			b, _ := (&rsocket.Frame{StreamID: 3, Type: rsocket.TypePayload, Flags: rsocket.FlagNext, Data: goodDoc}).Append(nil)
			p.send(b)
		},
		"text message": func(p *wsPeer) {
			_ = p.conn.Write(p.ctx, websocket.MessageText, []byte(`{"checkpoint":{}}`))
		},
		"LEASE never asked for": func(p *wsPeer) {
			p.sendFrame(rsocket.Frame{Type: rsocket.TypeLease, TTL: 1000, N: 5})
		},
		"connection closed with an error": func(p *wsPeer) {
			_ = p.conn.Close(websocket.StatusInternalError, "boom")
		},
	}
	for name, script := range cases {
		t.Run(name, func(t *testing.T) {
			endpoint := scriptedService(t, func(p *wsPeer) {
				p.handshake("tok")
				script(p)
				// Keep the connection open until the client gives up, so
				// the error is the frame's and not a closed socket.
				_, _, _ = p.conn.Read(p.ctx)
			})
			st, err := openWS(t, endpoint, 0)
			for err == nil {
				_, err = st.Next()
			}
			if st != nil {
				st.Close()
			}
			if errors.Is(err, io.EOF) {
				t.Fatalf("the stream ended cleanly; want an error")
			}
			t.Logf("error: %v", err)
		})
	}
}
