package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// UnprivilegedUser is the system user a database server started by a test
// runs as when the tests run as root (Postgres and MariaDB refuse to run as
// root). UnprivilegedCredential creates it when it does not exist.
const UnprivilegedUser = "powersync-test"

// UnprivilegedCredential returns the uid and gid of UnprivilegedUser for a
// server process a test starts while running as root, creating the user
// with useradd when it does not exist.
func UnprivilegedCredential() (*syscall.Credential, error) {
	u, err := user.Lookup(UnprivilegedUser)
	if err != nil {
		out, cerr := exec.Command("useradd", "--system", "--no-create-home",
			"--shell", "/usr/sbin/nologin", UnprivilegedUser).CombinedOutput()
		// Another test process may have created the user meanwhile:
		// useradd then exits with 9 and says so.
		var ee *exec.ExitError
		exists := errors.As(cerr, &ee) && ee.ExitCode() == 9 || bytes.Contains(out, []byte("already exists"))
		if cerr != nil && !exists {
			return nil, fmt.Errorf("tests run as root and user %s does not exist; useradd failed: %v: %s",
				UnprivilegedUser, cerr, out)
		}
		if u, err = user.Lookup(UnprivilegedUser); err != nil {
			return nil, fmt.Errorf("look up %s: %w", UnprivilegedUser, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("uid of %s: %w", UnprivilegedUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("gid of %s: %w", UnprivilegedUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process can take it before the caller's server binds it, so a
// caller retries a failed start with a new port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

// RunTool runs a database server's tool (initdb, pg_ctl,
// mariadb-install-db) in dir with a C locale and UTC, as the user of cred
// when it is set (tests running as root), and returns what it wrote to
// stdout and stderr.
func RunTool(ctx context.Context, dir string, cred *syscall.Credential, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "TZ=UTC")
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(cmd.Env, "HOME="+dir, "USER="+UnprivilegedUser)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// A server started by the tool (pg_ctl start) can keep our pipes as its
	// output; WaitDelay keeps such a stray inherited pipe from blocking the
	// call forever.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// Tail is the last n bytes of a server's output or log, for an error
// message.
func Tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
