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
	"strings"

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
	// ready, when set, is told once that dev, start or diagnose serves.
	ready func(Instance)
}

// Instance describes a running `powersync dev`, `powersync start` or
// `powersync diagnose`: what a program embedding the command (a test) needs
// to talk to it. It is reported once, through RunOptions.Ready, when the
// instance serves.
type Instance struct {
	// Endpoint is the sync endpoint ("http://127.0.0.1:port"), or the
	// diagnostics page's address; empty for the sync role, which serves
	// no HTTP.
	Endpoint string
	// Role is unified, api or sync (dev is always unified), or diagnose.
	Role string
	// AdminToken is the first admin API token ("" when none is set); for
	// diagnose, the per-run secret its page's API requires
	// (X-Diagnose-Secret).
	AdminToken string
	// Dir is the dev instance's folder; empty for start.
	Dir string
	// DevToken is the development token for test-user that dev prints
	// (empty for start, or when the config has no HS256 key).
	DevToken string
}

// RunOptions are the process surroundings of Run.
type RunOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads environment variables, for config (!env, the
	// POWERSYNC_CONFIG_* variables) and tokens; nil reads the process
	// environment.
	Getenv func(string) string
	// Ready, when set, is called once when dev, start or diagnose serves:
	// for dev after the banner (the first checkpoint is served, or the
	// snapshot is taking long), for start once the first checkpoint can be
	// served (the sync role: once replication starts), for diagnose once
	// its listener is bound.
	Ready func(Instance)
}

// Main runs the command line args and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return Run(ctx, args, RunOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// Run runs the command line args like Main, with the surroundings in o,
// and returns the process exit code.
func Run(ctx context.Context, args []string, o RunOptions) int {
	e := &env{stdin: o.Stdin, stdout: o.Stdout, stderr: o.Stderr, getenv: o.Getenv, ready: o.Ready}
	if e.stdin == nil {
		e.stdin = strings.NewReader("")
	}
	if e.stdout == nil {
		e.stdout = io.Discard
	}
	if e.stderr == nil {
		e.stderr = io.Discard
	}
	if e.getenv == nil {
		e.getenv = osGetenv
	}
	return run(ctx, args, e)
}

// serving reports an instance to the embedding program, if it asked.
func (e *env) serving(i Instance) {
	if e.ready != nil {
		e.ready(i)
	}
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
