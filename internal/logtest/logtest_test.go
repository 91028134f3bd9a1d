package logtest_test

import (
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/logtest"
)

func TestWaitFindsPastAndLaterRecords(t *testing.T) {
	r := logtest.NewRecorder()
	log := r.Logger().With("component", "x")
	log.Info("first record", "n", 1)
	if got := r.Wait(t, "first", time.Minute); got.Message != "first record" {
		t.Fatalf("past record: %q", got.Message)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		log.Debug("noise")
		log.Warn("second record")
	}()
	if got := r.Wait(t, "second", time.Minute); got.Message != "second record" {
		t.Fatalf("later record: %q", got.Message)
	}
	<-logged
	// Waiting again finds the same record: a Recorder keeps every record.
	if got := r.Wait(t, "noise", time.Minute); got.Message != "noise" {
		t.Fatalf("kept record: %q", got.Message)
	}
}
