package mysql

import (
	"context"
	"fmt"
	"strings"
)

// CheckError is a source configuration problem with the SQL or my.cnf line
// that fixes it.
type CheckError struct {
	Problem string
	Fix     string
}

func (e *CheckError) Error() string {
	if e.Fix == "" {
		return "mysql source: " + e.Problem
	}
	return "mysql source: " + e.Problem + "; fix with: " + e.Fix
}

// Check verifies what replication needs: the binary log on, in ROW format
// with FULL row images, GTIDs on MySQL (gtid_mode, as the reference
// requires), and a user that may read the binary log (REPLICATION SLAVE,
// REPLICATION CLIENT or their MariaDB names) and the database's tables
// (SELECT).
func (s *Source) Check(ctx context.Context) error {
	var version, logBin, format, image string
	err := s.db.QueryRowContext(ctx, `SELECT VERSION(), @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image`).
		Scan(&version, &logBin, &format, &image)
	if err != nil {
		return wrap("read server settings", err)
	}
	mariaDB := strings.Contains(strings.ToLower(version), "mariadb")
	if logBin != "1" && !strings.EqualFold(logBin, "ON") {
		return &CheckError{
			Problem: "the binary log is off (log_bin)",
			Fix:     "log_bin = mysql-bin and server_id = 1 under [mysqld] in my.cnf, then restart the server",
		}
	}
	if !strings.EqualFold(format, "ROW") {
		return &CheckError{
			Problem: fmt.Sprintf("binlog_format is %s; replication needs ROW", format),
			Fix:     "SET PERSIST binlog_format = 'ROW'; (MariaDB: SET GLOBAL binlog_format = 'ROW'; and binlog_format = ROW in my.cnf)",
		}
	}
	if !strings.EqualFold(image, "FULL") {
		return &CheckError{
			Problem: fmt.Sprintf("binlog_row_image is %s; replication needs FULL (every column of every changed row)", image),
			Fix:     "SET PERSIST binlog_row_image = 'FULL'; (MariaDB: SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image = FULL in my.cnf)",
		}
	}
	if !mariaDB {
		var gtidMode, enforce string
		if err := s.db.QueryRowContext(ctx, `SELECT @@GLOBAL.gtid_mode, @@GLOBAL.enforce_gtid_consistency`).Scan(&gtidMode, &enforce); err != nil {
			return wrap("read GTID settings", err)
		}
		if !strings.EqualFold(gtidMode, "ON") || !strings.EqualFold(enforce, "ON") {
			return &CheckError{
				Problem: fmt.Sprintf("GTIDs are off (gtid_mode = %s, enforce_gtid_consistency = %s)", gtidMode, enforce),
				Fix:     "gtid_mode = ON and enforce_gtid_consistency = ON under [mysqld] in my.cnf, then restart the server",
			}
		}
	}
	// Privileges: the user's grants must give replication access.
	rows, err := s.db.QueryContext(ctx, "SHOW GRANTS FOR CURRENT_USER()")
	if err != nil {
		return wrap("read the user's grants", err)
	}
	defer rows.Close()
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return wrap("read the user's grants", err)
		}
		grants = append(grants, strings.ToUpper(g))
	}
	if err := rows.Err(); err != nil {
		return wrap("read the user's grants", err)
	}
	has := func(privs ...string) bool {
		for _, g := range grants {
			on, _, _ := strings.Cut(g, " TO ")
			if !strings.Contains(on, " ON *.*") {
				continue
			}
			if strings.Contains(on, "ALL PRIVILEGES") {
				return true
			}
			for _, p := range privs {
				if strings.Contains(on, p) {
					return true
				}
			}
		}
		return false
	}
	var user string
	if err := s.db.QueryRowContext(ctx, "SELECT CURRENT_USER()").Scan(&user); err != nil {
		return wrap("read the current user", err)
	}
	quoted := quoteUser(user)
	if !has("REPLICATION SLAVE", "REPLICATION REPLICA") {
		return &CheckError{
			Problem: fmt.Sprintf("user %s may not read the binary log (REPLICATION SLAVE)", user),
			Fix:     fmt.Sprintf("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO %s;", quoted),
		}
	}
	if !has("REPLICATION CLIENT", "BINLOG MONITOR", "SUPER") {
		return &CheckError{
			Problem: fmt.Sprintf("user %s may not read the binary log position (REPLICATION CLIENT)", user),
			Fix:     fmt.Sprintf("GRANT REPLICATION CLIENT ON *.* TO %s;", quoted),
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", s.database).Scan(&n); err != nil {
		return wrap("look up the database", err)
	}
	if n == 0 {
		return &CheckError{
			Problem: fmt.Sprintf("database %s does not exist or user %s cannot see it", s.database, user),
			Fix:     fmt.Sprintf("CREATE DATABASE %s;  -- or: GRANT SELECT ON %s.* TO %s;", quoteIdent(s.database), quoteIdent(s.database), quoted),
		}
	}
	return nil
}

// quoteUser quotes "name@host" as 'name'@'host'.
func quoteUser(u string) string {
	name, host, _ := strings.Cut(u, "@")
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	return q(name) + "@" + q(host)
}
