package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/protocol/rsocket"
)

// FuzzWebSocketFrames sends SETUP and then arbitrary frames to a live
// service. Whatever arrives, the service must answer with well-formed
// frames and either keep the connection usable (a KEEPALIVE round trip
// still works) or close it; a panic fails the fuzz run.
func FuzzWebSocketFrames(f *testing.F) {
	for _, g := range []rsocket.Frame{
		{StreamID: 1, Type: rsocket.TypeRequestStream, N: 1, Metadata: []byte(`{"path":"/sync/stream"}`), Data: []byte(`{}`)},
		{StreamID: 1, Type: rsocket.TypeRequestStream, N: 1, Flags: rsocket.FlagFollows, Metadata: []byte(`{"pa`)},
		{StreamID: 1, Type: rsocket.TypeRequestN, N: 3},
		{StreamID: 1, Type: rsocket.TypeCancel},
		{StreamID: 1, Type: rsocket.TypeError, Code: rsocket.ErrCanceled},
		{StreamID: 3, Type: rsocket.TypeRequestChannel, N: 1, Data: []byte(`x`)},
		{Type: rsocket.TypeKeepalive, Flags: rsocket.FlagRespond, Data: []byte("k")},
		{Type: rsocket.TypeMetadataPush, Metadata: []byte("m")},
	} {
		b, err := g.Append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, b)
	}
	store := newMemStore()
	store.commit()
	srv, err := server.New(server.Options{Storage: store, Auth: server.AuthenticatorFunc(testAuth),
		Rules:  func(storage.Version) (server.Rules, error) { return defaultRules, nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		ts.Close()
	})
	setup, _ := (&rsocket.Frame{Type: rsocket.TypeSetup, MajorVersion: 1, KeepaliveMS: 20000, LifetimeMS: 90000,
		MetadataMIME: "application/json", DataMIME: "application/json", Metadata: []byte(`{"token":"Token u1"}`)}).Append(nil)
	ping, _ := (&rsocket.Frame{Type: rsocket.TypeKeepalive, Flags: rsocket.FlagRespond, Data: []byte("fuzz-barrier")}).Append(nil)
	url := "ws" + ts.URL[len("http"):] + "/sync/stream"
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		ws.SetReadLimit(rsocket.MaxFrameSize)
		for _, m := range [][]byte{setup, a, b, ping} {
			if ws.Write(ctx, websocket.MessageBinary, m) != nil {
				break // the service closed the connection: allowed
			}
		}
		for {
			_, msg, err := ws.Read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					t.Fatal("the service neither answered the keepalive nor closed the connection")
				}
				return // closed
			}
			fr, err := rsocket.Decode(msg)
			if err != nil {
				t.Fatalf("the service sent a malformed frame %x: %v", msg, err)
			}
			if fr.Type == rsocket.TypeKeepalive && string(fr.Data) == "fuzz-barrier" {
				return // still usable
			}
		}
	})
}
