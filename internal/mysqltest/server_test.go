package mysqltest_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/powersync-go/powersync/internal/mysqltest"
)

func TestMain(m *testing.M) { os.Exit(mysqltest.Main(m)) }

// The server runs with the binary log settings the MySQL source checks for,
// and a test database can be written and read over TCP on 127.0.0.1.
func TestServerSettings(t *testing.T) {
	d := mysqltest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("mysql", d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logBin, format, image, serverID string
	if err := db.QueryRowContext(ctx, `SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@server_id`).
		Scan(&logBin, &format, &image, &serverID); err != nil {
		t.Fatal(err)
	}
	if logBin != "1" || format != "ROW" || image != "FULL" || serverID != "1" {
		t.Fatalf("log_bin=%s binlog_format=%s binlog_row_image=%s server_id=%s", logBin, format, image, serverID)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a')`); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRowContext(ctx, `SELECT v FROM t WHERE id = 1`).Scan(&v); err != nil || v != "a" {
		t.Fatalf("read back %q, %v", v, err)
	}
}

// A restart (a kill -9 of mariadbd) keeps committed rows and the port.
func TestServerRestart(t *testing.T) {
	s := mysqltest.Private(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := s.Exec(ctx, "CREATE DATABASE r", "CREATE TABLE r.t (id INT PRIMARY KEY)", "INSERT INTO r.t VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	port := s.Port
	if err := s.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Port != port {
		t.Fatalf("port changed from %d to %d", port, s.Port)
	}
	db, err := sql.Open("mysql", s.DSN("r"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id int
	if err := db.QueryRowContext(ctx, `SELECT id FROM t`).Scan(&id); err != nil || id != 7 {
		t.Fatalf("after restart: id=%d err=%v\n%s", id, err, s.Log())
	}
}

// The server's port is below the kernel's ephemeral range, so no outgoing
// connection of any process (the kernel picks their local ports from that
// range) can hold it while a Restart binds it again.
func TestPortBelowEphemeralRange(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no ephemeral port range to compare with: %v", err)
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		t.Fatalf("ip_local_port_range %q: %v", b, err)
	}
	if low <= 11000 {
		t.Skipf("ephemeral range starts at %d: the harness lets the kernel pick", low)
	}
	s := mysqltest.Shared(t)
	if s.Port < 10000 || s.Port >= low {
		t.Fatalf("port %d is not in [10000, %d)", s.Port, low)
	}
}
