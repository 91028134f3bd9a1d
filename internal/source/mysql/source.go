// Package mysql is the MySQL / MariaDB replication source: it copies the
// synced tables in resumable pages keyed on their primary key, then follows
// the server's binary log (ROW format, FULL row images) from the position
// the copy started at, as a replica does, turning every committed
// transaction into row changes for replication.
//
// Positions are binary log coordinates packed into one number: the file's
// sequence number in the high 32 bits, the offset in the low 32 bits, so
// they increase with time like Postgres LSNs. A "slot" (the change stream
// of a sync config version) has no server-side state in MySQL; its start
// position is kept in bucket storage's settings (Options.Slots), and the
// resume position is the one committed with the bucket data, so nothing is
// acknowledged before storage has it. A purged binary log file under a slot
// makes Start report a fresh stream, which makes replication rebuild the
// version's data while the old one keeps serving.
//
// Data queries (checks, snapshot pages, schema) use go-sql-driver/mysql;
// the binary log is read by this package's own small protocol client
// (conn.go). MariaDB and MySQL GTID events are both recognised; the stream
// itself is positioned by file and offset on either server.
package mysql

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

// SlotStore keeps the start position of each slot (bucket storage's
// Settings satisfy it).
type SlotStore interface {
	Get(ctx context.Context, key string) ([]byte, error) // storage.ErrNotFound when unset
	Put(ctx context.Context, key string, value []byte) error
}

// Options configure a Source.
type Options struct {
	// URI is mysql://user:password@host:port/database.
	URI string
	// ServerID is the replica server id the binlog is read with; it must
	// differ from the server's and every other replica's (default: derived
	// from the slot name, in 100000–4294967295).
	ServerID uint32
	// Slots keeps slot start positions. Without it they live in memory
	// (a restarted process then copies everything again).
	Slots SlotStore
	// TimestampsISO8601 keeps microseconds of DATETIME(4..6) and
	// TIMESTAMP(4..6) columns (timestamps_iso8601); otherwise timestamps
	// have milliseconds, like the reference.
	TimestampsISO8601 bool
	// HeartbeatInterval is how often an idle server sends a heartbeat on
	// the binlog connection (default 1 s: a heartbeat is a few bytes, and
	// it reports the position other databases' writes moved the binlog
	// to); a silent connection is dropped after three.
	HeartbeatInterval time.Duration
	// SnapshotPageRows is the number of rows per snapshot page (default
	// 10,000).
	SnapshotPageRows int
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Source replicates from MySQL or MariaDB. It is safe for concurrent use.
type Source struct {
	opts     Options
	log      *slog.Logger
	db       *sql.DB
	database string // the connection's database: the default schema
	addr     string
	user     string
	password string
	dec      decoder

	mu sync.Mutex
	// tables are the tables Tables resolved, by reference.
	tables map[sqlvalue.TableRef]*source.Table
	// patterns are every table pattern Tables was asked for: a table that
	// appears in the binlog and matches one is picked up.
	patterns []sqlvalue.TablePattern
	// slots holds slot start positions when Options.Slots is nil.
	slots map[string]storage.Position

	closeOnce sync.Once
}

var _ source.Source = (*Source)(nil)

// Errors returned to replication.
var (
	// ErrPositionLost is returned by Stream when the server no longer has
	// the binary log at the stream's position (purged, or a different
	// server); Start then reports a fresh stream.
	ErrPositionLost = errors.New("the binary log position of the replication stream is gone from the server")
)

// Open parses the URI and opens a connection pool to the server; the pool
// dials lazily, on first use, so Open does not fail for a server that is
// down. Close releases the pool.
func Open(ctx context.Context, opts Options) (*Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("mysql source: %w", err)
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.SnapshotPageRows <= 0 {
		opts.SnapshotPageRows = 10000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	u, err := url.Parse(opts.URI)
	if err != nil {
		return nil, fmt.Errorf("mysql source: connection URI: %w", err)
	}
	if u.Scheme != "mysql" {
		return nil, fmt.Errorf("mysql source: connection URI must start with mysql://")
	}
	dbName := strings.Trim(u.Path, "/")
	if dbName == "" || strings.Contains(dbName, "/") {
		return nil, fmt.Errorf("mysql source: the connection URI must name one database (mysql://user:password@host:3306/database)")
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "3306")
	}
	cfg := gomysql.NewConfig()
	cfg.Net = "tcp"
	cfg.Addr = host
	cfg.DBName = dbName
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	cfg.InterpolateParams = true // text protocol: values arrive in their text form
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	cfg.Timeout = 30 * time.Second
	cfg.MultiStatements = false
	cfg.Logger = driverLogger{opts.Logger.With("component", "source/mysql", "driver", "go-sql-driver/mysql")}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql source: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	db.SetConnMaxIdleTime(30 * time.Second)
	return &Source{
		opts:     opts,
		log:      opts.Logger.With("component", "source/mysql"),
		db:       db,
		database: dbName,
		addr:     host,
		user:     cfg.User,
		password: cfg.Passwd,
		dec:      decoder{iso: opts.TimestampsISO8601},
		tables:   make(map[sqlvalue.TableRef]*source.Table),
		slots:    make(map[string]storage.Position),
	}, nil
}

// driverLogger sends the driver's own messages (a dropped idle
// connection, a reset read) to slog at debug level: the errors that matter
// reach us as returned errors.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Print(v ...any) { l.log.Debug(strings.TrimSpace(fmt.Sprint(v...))) }

// Close releases connections; it is safe to call twice.
func (s *Source) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() { err = s.db.Close() })
	return err
}

// Database is the connection's database, where tables without a schema
// live.
func (s *Source) Database() string { return s.database }

// wrap turns a driver error into ours at the adapter boundary: MySQL error
// numbers that mean a missing privilege or object get a hint.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var me *gomysql.MySQLError
	var se *serverError
	num := uint16(0)
	switch {
	case errors.As(err, &me):
		num = me.Number
	case errors.As(err, &se):
		num = se.Number
	}
	switch num {
	case 1045: // ER_ACCESS_DENIED_ERROR
		return fmt.Errorf("mysql source: %s: wrong user name or password: %w", what, err)
	case 1044, 1142, 1143, 1227: // no access to the database / table / column; needs a privilege
		return fmt.Errorf("mysql source: %s: missing privilege (see docs/mysql.md for the GRANTs): %w", what, err)
	case 1049: // ER_BAD_DB_ERROR
		return fmt.Errorf("mysql source: %s: the database does not exist: %w", what, err)
	case 1236: // ER_MASTER_FATAL_ERROR_READING_BINLOG
		return fmt.Errorf("mysql source: %s: %w: %v", what, ErrPositionLost, err)
	}
	return fmt.Errorf("mysql source: %s: %w", what, err)
}

// --- positions -----------------------------------------------------------

// binlogPos is a binary log coordinate.
type binlogPos struct {
	file   string
	offset uint32
}

// fileSeq is the sequence number of a binlog file name ("binlog.000042").
func fileSeq(name string) (uint32, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseUint(name[i+1:], 10, 32)
	return uint32(n), err == nil
}

func (p binlogPos) position() (storage.Position, error) {
	seq, ok := fileSeq(p.file)
	if !ok {
		return 0, fmt.Errorf("mysql source: binary log file name %q has no sequence number", p.file)
	}
	return storage.Position(uint64(seq)<<32 | uint64(p.offset)), nil
}

// fileName is the name of the binlog file with sequence seq, shaped like
// like (the base name and digit count of a file the server listed).
func fileName(like string, seq uint32) string {
	i := strings.LastIndexByte(like, '.')
	width := len(like) - i - 1
	return fmt.Sprintf("%s.%0*d", like[:i], width, seq)
}

func splitPosition(p storage.Position) (seq, offset uint32) {
	return uint32(uint64(p) >> 32), uint32(p)
}

// headPos reads the current end of the binary log.
func (s *Source) headPos(ctx context.Context, q queryer) (binlogPos, error) {
	var p binlogPos
	scan := func(stmt string) error {
		rows, err := q.QueryContext(ctx, stmt)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return &CheckError{Problem: "the binary log is off (SHOW MASTER STATUS is empty)", Fix: "log_bin = ON in my.cnf ([mysqld] section), then restart the server"}
		}
		vals := make([]any, len(cols))
		var file string
		var off uint64
		vals[0], vals[1] = &file, &off
		for i := 2; i < len(vals); i++ {
			vals[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(vals...); err != nil {
			return err
		}
		p = binlogPos{file: file, offset: uint32(off)}
		return nil
	}
	err := scan("SHOW MASTER STATUS")
	var me *gomysql.MySQLError
	if errors.As(err, &me) && me.Number == 1064 { // MySQL 8.4 dropped the old name
		err = scan("SHOW BINARY LOG STATUS")
	}
	if err != nil {
		var ce *CheckError
		if errors.As(err, &ce) {
			return p, err
		}
		return p, wrap("read the binary log position", err)
	}
	return p, nil
}

type queryer interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// Head returns the current end of the binary log (for write checkpoints).
// An idle server's heartbeats carry the stream to it.
func (s *Source) Head(ctx context.Context) (storage.Position, error) {
	p, err := s.headPos(ctx, s.db)
	if err != nil {
		return 0, err
	}
	return p.position()
}

// binlogFiles lists the binary log files the server still has, with sizes.
func (s *Source) binlogFiles(ctx context.Context) (map[uint32]uint64, string, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW BINARY LOGS")
	if err != nil {
		return nil, "", wrap("list binary logs", err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	files := map[uint32]uint64{}
	var last string
	for rows.Next() {
		var name string
		var size uint64
		vals := []any{&name, &size}
		for i := 2; i < len(cols); i++ {
			vals = append(vals, new(sql.RawBytes))
		}
		if err := rows.Scan(vals...); err != nil {
			return nil, "", wrap("list binary logs", err)
		}
		if seq, ok := fileSeq(name); ok {
			files[seq] = size
			last = name
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("list binary logs", err)
	}
	return files, last, nil
}

// --- slots ---------------------------------------------------------------

const slotKeyPrefix = "mysql_slot/"

func (s *Source) slotStart(ctx context.Context, slot string) (storage.Position, bool, error) {
	if s.opts.Slots == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		p, ok := s.slots[slot]
		return p, ok, nil
	}
	b, err := s.opts.Slots.Get(ctx, slotKeyPrefix+slot)
	if errors.Is(err, storage.ErrNotFound) || err == nil && len(b) != 8 {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("mysql source: read slot %s: %w", slot, err)
	}
	return storage.Position(binary.BigEndian.Uint64(b)), true, nil
}

func (s *Source) setSlotStart(ctx context.Context, slot string, p storage.Position, remove bool) error {
	if s.opts.Slots == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if remove {
			delete(s.slots, slot)
		} else {
			s.slots[slot] = p
		}
		return nil
	}
	var v []byte
	if !remove {
		v = binary.BigEndian.AppendUint64(nil, uint64(p))
	}
	if err := s.opts.Slots.Put(ctx, slotKeyPrefix+slot, v); err != nil {
		return fmt.Errorf("mysql source: record slot %s: %w", slot, err)
	}
	return nil
}

// Start returns where the slot's stream resumes: the later of resume (what
// storage committed) and the slot's start position. A new slot starts at
// the binary log position of a consistent snapshot and is reported fresh;
// so is a slot whose position the server has purged (logged: the data is
// copied again).
func (s *Source) Start(ctx context.Context, slot string, resume storage.Position) (storage.Position, bool, error) {
	if slot == "" {
		return 0, false, errors.New("mysql source: empty slot name")
	}
	if err := s.Check(ctx); err != nil {
		return 0, false, err
	}
	start, ok, err := s.slotStart(ctx, slot)
	if err != nil {
		return 0, false, err
	}
	if ok || resume != 0 {
		pos := max(start, resume)
		files, _, err := s.binlogFiles(ctx)
		if err != nil {
			return 0, false, err
		}
		seq, off := splitPosition(pos)
		if size, have := files[seq]; have && uint64(off) <= size {
			return pos, false, nil
		}
		s.log.Warn("the binary log of the replication stream was purged from the server; starting a fresh stream (the data is copied again)",
			"slot", slot, "position", formatPosition(pos))
	}
	pos, err := s.snapshotPosition(ctx)
	if err != nil {
		return 0, false, err
	}
	if err := s.setSlotStart(ctx, slot, pos, false); err != nil {
		return 0, false, err
	}
	s.log.Info("started a binlog replication stream", "slot", slot, "position", formatPosition(pos))
	return pos, true, nil
}

// snapshotPosition returns a binary log position from which replaying
// changes over page-wise copies made afterwards converges to the source.
// On MariaDB it is the position of a consistent snapshot (the server
// reports it with the snapshot: binlog_snapshot_file/position), so no
// transaction written to the log before it can still be invisible to the
// copy. On MySQL it is SHOW BINARY LOG STATUS read inside a consistent
// snapshot.
func (s *Source) snapshotPosition(ctx context.Context) (storage.Position, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, wrap("connect", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return 0, wrap("start a consistent snapshot", err)
	}
	defer func() { _, _ = conn.ExecContext(context.Background(), "ROLLBACK") }()
	var p binlogPos
	rows, err := conn.QueryContext(ctx, "SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return 0, wrap("read the snapshot's binary log position", err)
	}
	for rows.Next() {
		var name, val string
		if err := rows.Scan(&name, &val); err != nil {
			rows.Close()
			return 0, wrap("read the snapshot's binary log position", err)
		}
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			p.file = val
		case "binlog_snapshot_position":
			n, _ := strconv.ParseUint(val, 10, 32)
			p.offset = uint32(n)
		}
	}
	rows.Close()
	if p.file == "" { // MySQL
		if p, err = s.headPos(ctx, conn); err != nil {
			return 0, err
		}
	}
	return p.position()
}

// formatPosition renders a position as "file-sequence:offset".
func formatPosition(p storage.Position) string {
	seq, off := splitPosition(p)
	return fmt.Sprintf("%06d:%d", seq, off)
}

// Drop forgets a replaced version's slot.
func (s *Source) Drop(ctx context.Context, slot string) error {
	return s.setSlotStart(ctx, slot, 0, true)
}

// --- tables --------------------------------------------------------------

// tableSchema is a table's columns and primary key from information_schema.
type tableSchema struct {
	cols   []column
	keyIdx []int
}

// readSchema reads the columns and primary key of schema.table.
func (s *Source) readSchema(ctx context.Context, schema, table string) (*tableSchema, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE), COALESCE(CHARACTER_SET_NAME, ''),
		       COALESCE(CHARACTER_OCTET_LENGTH, 0), COALESCE(DATETIME_PRECISION, 0), COLUMN_KEY
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?
		ORDER BY ORDINAL_POSITION`, schema, table)
	if err != nil {
		return nil, wrap("read columns of "+schema+"."+table, err)
	}
	defer rows.Close()
	ts := &tableSchema{}
	var pk []string
	for rows.Next() {
		var c column
		var colType, charset, key string
		var octets int64
		if err := rows.Scan(&c.name, &c.dataType, &colType, &charset, &octets, &c.fsp, &key); err != nil {
			return nil, wrap("read columns of "+schema+"."+table, err)
		}
		c.unsigned = strings.Contains(colType, "unsigned")
		switch c.dataType {
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
			c.binary = true
		}
		if charset == "binary" {
			c.binary = true
		}
		if c.dataType == "binary" {
			c.octets = int(octets)
		}
		if c.dataType == "enum" || c.dataType == "set" {
			c.labels = parseLabels(colType)
		}
		if key == "PRI" {
			pk = append(pk, c.name)
		}
		ts.cols = append(ts.cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("read columns of "+schema+"."+table, err)
	}
	if len(ts.cols) == 0 {
		return nil, fmt.Errorf("mysql source: table %s.%s does not exist or has no columns", schema, table)
	}
	// The primary key in index order.
	krows, err := s.db.QueryContext(ctx, `
		SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, schema, table)
	if err != nil {
		return nil, wrap("read the primary key of "+schema+"."+table, err)
	}
	defer krows.Close()
	var keys []string
	for krows.Next() {
		var k string
		if err := krows.Scan(&k); err != nil {
			return nil, wrap("read the primary key of "+schema+"."+table, err)
		}
		keys = append(keys, k)
	}
	if err := krows.Err(); err != nil {
		return nil, wrap("read the primary key of "+schema+"."+table, err)
	}
	if len(keys) == 0 {
		keys = pk
	}
	for _, k := range keys {
		for i := range ts.cols {
			if ts.cols[i].name == k {
				ts.keyIdx = append(ts.keyIdx, i)
			}
		}
	}
	return ts, nil
}

// parseLabels reads the members of "enum('a','b')" or "set('x','y')".
func parseLabels(colType string) []string {
	i := strings.IndexByte(colType, '(')
	if i < 0 {
		return nil
	}
	s := colType[i+1:]
	var out []string
	for len(s) > 0 && s[0] == '\'' {
		var b strings.Builder
		j := 1
		for j < len(s) {
			if s[j] == '\'' {
				if j+1 < len(s) && s[j+1] == '\'' {
					b.WriteByte('\'')
					j += 2
					continue
				}
				break
			}
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
			j++
		}
		out = append(out, b.String())
		s = s[min(j+1, len(s)):]
		s = strings.TrimPrefix(s, ",")
	}
	return out
}

// Tables resolves table patterns ("todos", "app.todos", "todo%") to the
// base tables that exist, with their primary key columns. A pattern
// without a schema means the connection's database.
func (s *Source) Tables(ctx context.Context, patterns []sqlvalue.TablePattern) ([]*source.Table, error) {
	s.mu.Lock()
	for _, p := range patterns {
		if !slices.Contains(s.patterns, p) {
			s.patterns = append(s.patterns, p)
		}
	}
	s.mu.Unlock()
	var out []*source.Table
	seen := map[string]bool{}
	for _, p := range patterns {
		schema := p.Schema
		if schema == "" {
			schema = s.database
		}
		name, op := p.Name, "="
		if prefix, ok := strings.CutSuffix(name, "%"); ok {
			name, op = likePrefix(prefix), "LIKE"
		}
		rows, err := s.db.QueryContext(ctx, `
			SELECT TABLE_NAME FROM information_schema.TABLES
			WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME `+op+` ?
			ORDER BY TABLE_NAME`, schema, name)
		if err != nil {
			return nil, wrap("resolve tables "+schema+"."+p.Name, err)
		}
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, wrap("resolve tables", err)
			}
			names = append(names, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, wrap("resolve tables", err)
		}
		for _, n := range names {
			id := schema + "." + n
			if seen[id] {
				continue
			}
			seen[id] = true
			t, err := s.table(ctx, p.Schema, schema, n)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// table resolves one table; refSchema is the schema as the sync config
// names it ("" for the connection's database).
func (s *Source) table(ctx context.Context, refSchema, schema, name string) (*source.Table, error) {
	ts, err := s.readSchema(ctx, schema, name)
	if err != nil {
		return nil, err
	}
	qname := quoteIdent(schema) + "." + quoteIdent(name)
	if len(ts.keyIdx) == 0 {
		return nil, &CheckError{
			Problem: fmt.Sprintf("table %s has no primary key, so its rows cannot be identified in the binary log", qname),
			Fix:     fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (id);", qname),
		}
	}
	var priv int
	err = s.db.QueryRowContext(ctx, "SELECT 1 FROM "+qname+" LIMIT 0").Scan(&priv)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, &CheckError{
			Problem: fmt.Sprintf("the replication user cannot read table %s (%v)", qname, err),
			Fix:     fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%';", quoteIdent(schema), s.user),
		}
	}
	keys := make([]string, len(ts.keyIdx))
	for i, k := range ts.keyIdx {
		keys[i] = ts.cols[k].name
	}
	t := &source.Table{
		Ref:        sqlvalue.TableRef{Schema: refSchema, Name: name},
		ID:         schema + "." + name,
		KeyColumns: keys,
	}
	s.mu.Lock()
	s.tables[t.Ref] = t
	s.mu.Unlock()
	return t, nil
}

// refs returns the references a table of the binlog may have in the sync
// config: with its schema, and without one when it is in the connection's
// database.
func (s *Source) refs(schema, name string) []sqlvalue.TableRef {
	r := []sqlvalue.TableRef{{Schema: schema, Name: name}}
	if schema == s.database {
		r = append(r, sqlvalue.TableRef{Name: name})
	}
	return r
}

// newTable resolves a table seen in the binary log that Tables did not
// return: when it matches a pattern of the sync config, it is returned for
// an inline copy.
func (s *Source) newTable(ctx context.Context, schema, name string) (*source.Table, error) {
	s.mu.Lock()
	var refSchema string
	match := false
	for _, p := range s.patterns {
		ps := p.Schema
		if ps == "" {
			ps = s.database
		}
		if ps != schema {
			continue
		}
		if prefix, ok := strings.CutSuffix(p.Name, "%"); ok && strings.HasPrefix(name, prefix) || p.Name == name {
			match, refSchema = true, p.Schema
			break
		}
	}
	known := false
	for _, r := range s.refs(schema, name) {
		if s.tables[r] != nil {
			known = true
		}
	}
	s.mu.Unlock()
	if known || !match {
		return nil, nil
	}
	return s.table(ctx, refSchema, schema, name)
}

func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(s, "`", "``") + "`"
}
