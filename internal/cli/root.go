// Package cli builds the command tree of the powersync binary: one file per
// command. Commands read their input from flags, files and the environment
// passed in, and write only to the writers they are given, so tests can run
// them in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// ExitError carries a process exit code out of a command (for example 1 when
// validation found errors). Its message, when not empty, is printed.
type ExitError struct {
	Code int
	Msg  string
}

func (e *ExitError) Error() string { return e.Msg }

// env is what every command gets from the process: standard streams and a
// way to read environment variables (so tests need not touch os.Environ).
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, args, &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: osGetenv})
}

func run(ctx context.Context, args []string, e *env) int {
	root := newRootCmd(e)
	root.SetArgs(args)
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Msg != "" {
			fmt.Fprintln(e.stderr, ee.Msg)
		}
		return ee.Code
	}
	fmt.Fprintln(e.stderr, "Error:", err)
	return 1
}

func newRootCmd(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "powersync",
		Short: "A PowerSync-compatible sync service and its tools",
		Long: `powersync keeps a backend database (Postgres or SQLite) in sync with the
on-device SQLite databases of many users, speaking the PowerSync protocol so
the official client SDKs connect unchanged.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(commands(e)...)
	return root
}

// commands lists every top-level command.
func commands(e *env) []*cobra.Command {
	return []*cobra.Command{
		newValidateCmd(e),
		newMigrateCmd(e),
		newStartCmd(e),
		newDevCmd(e),
		newGenerateCmd(e),
		newVerifyCmd(e),
		newCompactCmd(e),
		newTestClientCmd(e),
		newDiagnoseCmd(e),
	}
}
