package cli_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/powersync-go/powersync/internal/devtest"
)

// TestServiceMetricsIncludeReplication checks that the replicating
// process's /metrics serves replication's own metrics beside the API's.
func TestServiceMetricsIncludeReplication(t *testing.T) {
	d := devtest.Dev(t, devtest.Options{})
	resp, err := http.Get(d.Endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	for _, name := range []string{
		"powersync_rows_replicated_total",
		"powersync_transactions_replicated_total",
		"powersync_replication_commit_lag_seconds",
		"powersync_replication_lease_held",
		"powersync_replication_lag_seconds",
		"powersync_sync_connections",
	} {
		if !strings.Contains(string(body), "\n"+name+" ") {
			t.Errorf("/metrics without %s", name)
		}
	}
}
