// Command powersync is the PowerSync-compatible sync service and its tools:
// the service itself (start, dev), configuration checks (validate), key and
// token tooling (generate, verify), a load-testing client (test-client) and
// the Sync Diagnostics Client (diagnose).
package main

import (
	"context"
	"os"

	"github.com/powersync-go/powersync/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
