package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/server"
	"github.com/powersync-go/powersync/protocol"
)

func TestDecodeRequest(t *testing.T) {
	body := `{"buckets":[{"name":"by_user[\"u1\"]","after":"1500"}],"include_checksum":true,"raw_data":true,` +
		`"binary_data":true,"client_id":"c1","parameters":{"a":1},` +
		`"streams":{"include_defaults":false,"subscriptions":[{"stream":"todos","parameters":{"list":"L1"},"override_priority":1}]},` +
		`"app_metadata":{"v":"1"}}`
	req, err := server.DecodeRequest(strings.NewReader(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Buckets) != 1 || req.Buckets[0].After != 1500 || req.ClientID != "c1" ||
		req.Streams.IncludesDefaults() || *req.Streams.Subscriptions[0].OverridePriority != 1 {
		t.Fatalf("decoded %+v", req)
	}
	if req, err := server.DecodeRequest(strings.NewReader(""), 0); err != nil || req == nil {
		t.Fatalf("empty body: %v", err)
	}
}

// FuzzDecodeRequest: any input either decodes or gives a 400 PSYNC_S2001
// that says what was wrong; never a panic.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"buckets":[{"name":"a","after":"1"}]}`, `{"parameters":null}`, `{"streams":{"subscriptions":[{"stream":"s"}]}}`,
		`{"buckets":"x"}`, `[`, `{"buckets":[{"name":"a","after":1e99}]}`, `{"app_metadata":{"a":null}}`, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := server.DecodeRequest(strings.NewReader(string(data)), 1<<16)
		if err == nil {
			if req == nil {
				t.Fatal("nil request without error")
			}
			for _, b := range req.Buckets {
				if b.Name == "" || b.After < 0 {
					t.Fatalf("invalid bucket accepted: %+v", b)
				}
			}
			return
		}
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Status != 400 || pe.Code != protocol.CodeValidation || pe.Details == "" {
			t.Fatalf("error is not a described 400: %#v", err)
		}
	})
}
