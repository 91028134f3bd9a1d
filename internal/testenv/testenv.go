// Package testenv lets tests find the external tools they need (a Postgres
// server, Chromium, Node.js with the official SDK) and decides what happens
// when one is missing: under plain `go test` the test skips with a message
// naming the tool; under `make test` (POWERSYNC_TEST_REQUIRE_ALL=1) it fails,
// so nothing is silently skipped there.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// RequireAllVar is the environment variable `make test` sets.
const RequireAllVar = "POWERSYNC_TEST_REQUIRE_ALL"

// Missing ends the test because tool is missing: a skip under plain
// `go test`, a failure when RequireAllVar is set.
func Missing(t testing.TB, tool, why string) {
	t.Helper()
	if os.Getenv(RequireAllVar) != "" {
		t.Fatalf("%s is required (%s); `make test` should have installed it", tool, why)
	}
	t.Skipf("skipping: %s not found (%s); run `make test` to install it", tool, why)
}

// LookPath returns the path of an executable, or ends the test via Missing.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, "not on PATH")
	}
	return p
}
