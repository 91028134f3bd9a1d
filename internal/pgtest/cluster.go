// Package pgtest starts a throwaway Postgres cluster for tests: initdb into a
// temporary directory, logical replication enabled, listening on 127.0.0.1
// on a free port with its unix socket in the same directory. When the tests
// run as root, the cluster runs as an unprivileged user (Postgres refuses to
// run as root).
//
// A test binary shares one cluster (started lazily by the first test that
// asks for it, stopped and removed by Main), and each test gets a fresh
// database:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		db := pgtest.NewDatabase(t) // skips (or fails under make test) without Postgres
//		conn := db.Connect(t) // closed when the test ends
//	}
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/powersync-go/powersync/internal/testenv"
)

// UnprivilegedUser is the system user the cluster runs as when the tests run
// as root. It is created with useradd when it does not exist.
const UnprivilegedUser = testenv.UnprivilegedUser

// ErrNotInstalled is returned when initdb/pg_ctl cannot be found.
var ErrNotInstalled = errors.New("postgres server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin")

// Cluster is a running throwaway Postgres cluster.
type Cluster struct {
	// Dir holds the data directory, the socket and the server log.
	Dir string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// User is the superuser name ("postgres").
	User string

	binDir  string
	dataDir string
	logFile string
	cred    *syscall.Credential // nil when not running as root
}

// FindBinDir returns the directory holding initdb and pg_ctl: from PATH
// first, then the newest /usr/lib/postgresql/<version>/bin (the Debian
// layout, where these tools are not on PATH).
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if isExec(filepath.Join(dir, "pg_ctl")) && isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return pgMajor(matches[i]) > pgMajor(matches[j]) })
	for _, m := range matches {
		dir := filepath.Dir(m)
		if isExec(filepath.Join(dir, "pg_ctl")) && isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	return "", ErrNotInstalled
}

func pgMajor(initdbPath string) int {
	// /usr/lib/postgresql/<major>/bin/initdb
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdbPath))))
	return n
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start creates and starts a new cluster. The caller must call Stop.
func Start(ctx context.Context) (*Cluster, error) {
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "powersync-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: temp dir: %w", err)
	}
	c := &Cluster{Dir: dir, User: "postgres", binDir: binDir,
		dataDir: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "server.log")}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	if os.Geteuid() == 0 {
		cred, err := testenv.UnprivilegedCredential()
		if err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		c.cred = cred
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgtest: chown %s: %w", dir, err)
		}
	}
	if out, err := c.run(ctx, filepath.Join(binDir, "initdb"), "-D", c.dataDir, "-U", c.User,
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	conf := strings.Join([]string{
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + dir + "'",
		"wal_level = logical",
		"max_replication_slots = 40",
		"max_wal_senders = 40",
		"max_connections = 200",
		"fsync = off", // the OS does not crash in tests; a server crash loses nothing
		"full_page_writes = off",
		"shared_buffers = 64MB",
		"max_wal_size = 1GB",
		"log_min_messages = warning",
		"TimeZone = 'UTC'",
		"",
	}, "\n")
	f, err := os.OpenFile(filepath.Join(c.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("pgtest: postgresql.conf: %w", err)
	}
	_, err = f.WriteString("\n# powersync pgtest\n" + conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("pgtest: postgresql.conf: %w", err)
	}
	// A free port can be taken by someone else between the probe and the
	// server's bind; retry a few times.
	for attempt := 0; ; attempt++ {
		port, err := testenv.FreePort()
		if err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		c.Port = port
		err = c.startServer(ctx)
		if err == nil {
			break
		}
		if attempt >= 3 {
			return nil, err
		}
	}
	ok = true
	return c, nil
}

func (c *Cluster) startServer(ctx context.Context) error {
	out, err := c.run(ctx, filepath.Join(c.binDir, "pg_ctl"), "start", "-w", "-t", "60",
		"-D", c.dataDir, "-l", c.logFile, "-o", "-p "+strconv.Itoa(c.Port))
	if err != nil {
		log, _ := os.ReadFile(c.logFile)
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, testenv.Tail(log, 2000))
	}
	return nil
}

// Stop stops the server (fast shutdown) and removes its directory.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := c.run(ctx, filepath.Join(c.binDir, "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", c.dataDir)
	if rerr := os.RemoveAll(c.Dir); err == nil {
		err = rerr
	}
	return err
}

// Restart stops the server abruptly (immediate mode, like a crash: clients
// are disconnected and recovery runs on start) and starts it again on the
// same port.
func (c *Cluster) Restart(ctx context.Context) error {
	if out, err := c.run(ctx, filepath.Join(c.binDir, "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", c.dataDir); err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return c.startServer(ctx)
}

// URL returns a connection URL for database db as the superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", c.User, c.Port, db)
}

// Log returns the end of the server log (for failure messages).
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(c.logFile)
	return testenv.Tail(b, 4000)
}

// CreateDatabase creates a database.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// DropDatabase drops a database together with the replication slots that
// live in it, disconnecting its sessions.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	// Active slots cannot be dropped: end their walsenders first.
	for i := 0; i < 50; i++ {
		var n int
		err := conn.QueryRow(ctx, `
			SELECT count(pg_terminate_backend(active_pid))
			FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL`, name).Scan(&n)
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, `
			SELECT pg_drop_replication_slot(slot_name)
			FROM pg_replication_slots WHERE database = $1 AND NOT active`, name)
		if err != nil {
			return err
		}
		var left int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE database = $1`, name).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// run runs a server tool, as the unprivileged user when we are root.
func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return testenv.RunTool(ctx, c.Dir, c.cred, name, args...)
}
