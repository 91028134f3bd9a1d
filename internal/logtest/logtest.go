// Package logtest lets a test wait for a component's log record as an
// event: a component that logs when something happened (a compaction ran,
// change capture was re-installed) is given a Recorder's logger, and the
// test waits for that record instead of polling state on a timer.
package logtest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Recorder is an slog.Handler that keeps every record it is given and wakes
// waiters on each one. It never blocks or drops a record, so the component
// logging is not slowed and no awaited record is lost.
type Recorder struct {
	mu      sync.Mutex // guards records and wake
	records []slog.Record
	wake    chan struct{} // closed and replaced at each record
}

var _ slog.Handler = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{wake: make(chan struct{})} }

// Logger returns a logger that writes to r.
func (r *Recorder) Logger() *slog.Logger { return slog.New(r) }

// Enabled reports true for every level: a test may wait for a debug record.
func (r *Recorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle keeps the record and wakes the waiters.
func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	close(r.wake)
	r.wake = make(chan struct{})
	return nil
}

// WithAttrs returns r: the attributes of a derived logger are not kept,
// the records are matched on their message.
func (r *Recorder) WithAttrs([]slog.Attr) slog.Handler { return r }

// WithGroup returns r, for the same reason.
func (r *Recorder) WithGroup(string) slog.Handler { return r }

// Wait returns the first record so far or to come whose message starts
// with prefix. It fails t when none arrives within timeout; the timeout is
// a bound on a hang, not the thing being tested.
func (r *Recorder) Wait(t testing.TB, prefix string, timeout time.Duration) slog.Record {
	t.Helper()
	expire := time.After(timeout)
	seen := 0
	for {
		r.mu.Lock()
		for ; seen < len(r.records); seen++ {
			if strings.HasPrefix(r.records[seen].Message, prefix) {
				rec := r.records[seen]
				r.mu.Unlock()
				return rec
			}
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-expire:
			t.Fatalf("no log record %q within %v", prefix, timeout)
			return slog.Record{}
		}
	}
}
