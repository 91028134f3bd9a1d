// Package mysqltest starts a throwaway MariaDB server for tests:
// mariadb-install-db into a temporary directory, mariadbd listening on
// 127.0.0.1 on a free port with its unix socket in the same directory, the
// binary log on in the form the MySQL source needs (ROW format, FULL row
// images, a server id, GTIDs). When the tests run as root, the server runs as
// an unprivileged user (mariadbd refuses to run as root).
//
// A test binary shares one server (started lazily by the first test that asks
// for it, stopped and removed by Main), and each test gets a fresh database:
//
//	func TestMain(m *testing.M) { os.Exit(mysqltest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		db := mysqltest.NewDatabase(t) // skips (or fails under make test) without MariaDB
//		conn, _ := sql.Open("mysql", db.DSN)
//	}
package mysqltest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
)

// UnprivilegedUser is the system user the server runs as when the tests run
// as root (the same user pgtest uses). It is created with useradd when it
// does not exist.
const UnprivilegedUser = "powersync-test"

// ErrNotInstalled is returned when mariadbd or mariadb-install-db cannot be
// found.
var ErrNotInstalled = errors.New("mariadb server binaries (mariadbd, mariadb-install-db) not found on PATH or in /usr/sbin")

// Server is a running throwaway MariaDB server.
type Server struct {
	// Dir holds the data directory, the socket, the binary logs and the
	// error log.
	Dir string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// User is the superuser ("root", no password, from 127.0.0.1).
	User string

	mariadbd string
	install  string
	dataDir  string
	logFile  string
	cred     *syscall.Credential // nil when not running as root
	cmd      *exec.Cmd
	exited   chan struct{}
}

// FindBinaries returns the paths of mariadbd and mariadb-install-db.
func FindBinaries() (mariadbd, install string, err error) {
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p
			}
		}
		return ""
	}
	mariadbd, install = find("mariadbd"), find("mariadb-install-db")
	if mariadbd == "" || install == "" {
		return "", "", ErrNotInstalled
	}
	return mariadbd, install, nil
}

// Start creates and starts a new server. The caller must call Stop.
func Start(ctx context.Context) (*Server, error) {
	mariadbd, install, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "powersync-mysqltest-")
	if err != nil {
		return nil, fmt.Errorf("mysqltest: temp dir: %w", err)
	}
	s := &Server{Dir: dir, User: "root", mariadbd: mariadbd, install: install,
		dataDir: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "error.log")}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if os.Geteuid() == 0 {
		cred, err := unprivilegedCredential()
		if err != nil {
			return nil, err
		}
		s.cred = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("mysqltest: chown %s: %w", dir, err)
		}
	}
	// A temporary directory of its own: servers of test binaries running
	// in parallel otherwise share /tmp, where their internal temporary
	// table names collide (installation then fails).
	if err := os.Mkdir(s.tmpDir(), 0o700); err != nil {
		return nil, fmt.Errorf("mysqltest: %w", err)
	}
	if s.cred != nil {
		if err := os.Chown(s.tmpDir(), int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, fmt.Errorf("mysqltest: chown %s: %w", s.tmpDir(), err)
		}
	}
	out, err := s.run(ctx, install, "--no-defaults", "--datadir="+s.dataDir, "--tmpdir="+s.tmpDir(),
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve")
	if err != nil {
		return nil, fmt.Errorf("mysqltest: mariadb-install-db: %w\n%s", err, tail(out, 2000))
	}
	// A free port can be taken by someone else between the probe and the
	// server's bind; retry a few times.
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		err = s.startServer(ctx)
		if err == nil {
			break
		}
		if attempt >= 3 {
			return nil, err
		}
	}
	ok = true
	return s, nil
}

func (s *Server) tmpDir() string { return filepath.Join(s.Dir, "tmp") }

// Socket is the path of the server's unix socket.
func (s *Server) Socket() string { return filepath.Join(s.Dir, "mysqld.sock") }

// args are mariadbd's settings: the binary log as the MySQL source needs it,
// and durability settings for a test server (the OS does not crash in tests;
// a killed server loses nothing committed to its log files).
func (s *Server) args() []string {
	return []string{
		"--no-defaults",
		"--datadir=" + s.dataDir,
		"--tmpdir=" + s.tmpDir(),
		"--socket=" + s.Socket(),
		"--port=" + strconv.Itoa(s.Port),
		"--bind-address=127.0.0.1",
		"--pid-file=" + filepath.Join(s.Dir, "mysqld.pid"),
		"--log-error=" + s.logFile,
		"--log-bin=" + filepath.Join(s.dataDir, "binlog"),
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--binlog-row-metadata=FULL",
		"--server-id=1",
		"--gtid-strict-mode=ON",
		"--log-slave-updates=ON",
		"--skip-name-resolve",
		"--max-connections=300",
		"--max-allowed-packet=256M",
		"--innodb-buffer-pool-size=128M",
		"--innodb-log-file-size=128M",
		"--innodb-flush-log-at-trx-commit=2",
		"--sync-binlog=0",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--default-time-zone=+00:00",
	}
}

func (s *Server) startServer(ctx context.Context) error {
	cmd := exec.Command(s.mariadbd, s.args()...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "TZ=UTC")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		cmd.Env = append(cmd.Env, "HOME="+s.Dir, "USER="+UnprivilegedUser)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("mysqltest: start mariadbd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	// Ready once a connection over the socket answers.
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("mysql", "root@unix("+s.Socket()+")/?timeout=2s")
		if err == nil {
			err = db.PingContext(ctx)
			_ = db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(s.logFile)
			return fmt.Errorf("mysqltest: mariadbd exited during start-up: %s\n%s\n%s", cmd.ProcessState, out.String(), tail(log, 3000))
		case <-ctx.Done():
			s.kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.kill()
			log, _ := os.ReadFile(s.logFile)
			return fmt.Errorf("mysqltest: mariadbd did not accept connections within 60s: %v\n%s", err, tail(log, 3000))
		}
	}
}

// kill ends the server process at once (SIGKILL) and waits for it.
func (s *Server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Stop kills the server and removes its directory.
func (s *Server) Stop() error {
	s.kill()
	return os.RemoveAll(s.Dir)
}

// Restart kills the server (like a crash: clients are disconnected and
// InnoDB recovery runs on start) and starts it again on the same port.
func (s *Server) Restart(ctx context.Context) error {
	s.kill()
	return s.startServer(ctx)
}

// DSN returns a go-sql-driver/mysql data source name for database db as
// the superuser over TCP.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("%s@tcp(127.0.0.1:%d)/%s?multiStatements=true&parseTime=false&loc=UTC", s.User, s.Port, db)
}

// URL returns a mysql:// URL for database db as user (with password) over
// TCP, the form of `replication.connections[].uri`.
func (s *Server) URL(userName, password, db string) string {
	u := &url.URL{Scheme: "mysql", Host: "127.0.0.1:" + strconv.Itoa(s.Port), Path: "/" + db}
	if password != "" {
		u.User = url.UserPassword(userName, password)
	} else {
		u.User = url.User(userName)
	}
	return u.String()
}

// Log returns the end of the server's error log (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logFile)
	return tail(b, 4000)
}

// Exec runs statements as the superuser.
func (s *Server) Exec(ctx context.Context, stmts ...string) error {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mysqltest: %s: %w", q, err)
		}
	}
	return nil
}

// run runs a server tool, as the unprivileged user when we are root.
func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C", "TZ=UTC")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		cmd.Env = append(cmd.Env, "HOME="+s.Dir, "USER="+UnprivilegedUser)
	}
	// mariadb-install-db is a script that runs mariadbd --bootstrap: in a
	// process group of its own, a cancelled install kills the server too
	// instead of leaving it running on a data directory Start then removes.
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return out.Bytes(), err
}

// unprivilegedCredential returns the uid/gid of UnprivilegedUser, creating
// the user when it does not exist.
func unprivilegedCredential() (*syscall.Credential, error) {
	u, err := user.Lookup(UnprivilegedUser)
	if err != nil {
		out, cerr := exec.Command("useradd", "--system", "--no-create-home",
			"--shell", "/usr/sbin/nologin", UnprivilegedUser).CombinedOutput()
		if cerr != nil && !bytes.Contains(out, []byte("already exists")) {
			return nil, fmt.Errorf("mysqltest: tests run as root and user %s does not exist; useradd failed: %v: %s",
				UnprivilegedUser, cerr, out)
		}
		if u, err = user.Lookup(UnprivilegedUser); err != nil {
			return nil, fmt.Errorf("mysqltest: look up %s: %w", UnprivilegedUser, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: uid of %s: %w", UnprivilegedUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: gid of %s: %w", UnprivilegedUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// freePort returns a port of 127.0.0.1 that is free now, chosen below the
// kernel's ephemeral range (net.ipv4.ip_local_port_range). Restart binds the
// same port again after a kill; a port from the ephemeral range could by
// then be the local end of any process's outgoing connection (other test
// binaries running at the same time make many), and the restarted server
// would fail to bind it. Below that range only servers that bind a port by
// number compete, and a start that loses the port to one is retried with a
// new port.
func freePort() (int, error) {
	low := ephemeralLow()
	const first = 10000
	if low <= first+1000 {
		// An unusual range: fall back to a port the kernel picks.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("mysqltest: free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		return port, l.Close()
	}
	var err error
	for range 100 {
		port := first + rand.IntN(low-first)
		var l net.Listener
		if l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return port, l.Close()
		}
	}
	return 0, fmt.Errorf("mysqltest: no free port below %d: %w", low, err)
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768,
// Linux's default, when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low < 1024 || low > 65535 {
		return 32768
	}
	return low
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
