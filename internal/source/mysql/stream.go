package mysql

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

// Grouping of small transactions into one storage commit.
const (
	groupMaxChanges = 20000
	groupMaxAge     = 250 * time.Millisecond
)

// mapped is a table of the binary log as its last TABLE_MAP described it.
type mapped struct {
	schema, name string
	table        *source.Table // nil: not synced
	cols         []column
	keyIdx       []int
}

// streamState is the state of one Stream call, owned by its goroutine.
type streamState struct {
	s      *Source
	h      source.Handler
	tables func(sqlvalue.TableRef) *source.Table
	conn   *binlogConn
	fd     formatDesc
	csum   bool
	// file is the binlog file being read; seq its sequence number.
	file string
	seq  uint32
	maps map[uint64]*mapped
	// schemas caches information_schema per "schema.table"; dropped on DDL.
	schemas map[string]*tableSchema
	// extra are tables picked up while streaming (see copyNewTable).
	extra map[string]*source.Table

	inTx      bool
	txChanges int
	// A group of committed transactions not yet handed to Handler.Commit.
	groupPos     storage.Position
	groupTxs     int
	groupChanges int
	groupStart   time.Time
	// committed is the last position handed to Commit or Keepalive; last
	// is the end of the last whole event read outside a transaction.
	committed storage.Position
	last      storage.Position
	// reported is set once a position was handed to the handler (the
	// first heartbeat reports even the start position, so an idle source
	// gets its first checkpoint).
	reported bool
	// startHead is the binlog end when the stream started; reaching it
	// reports the position without waiting for a heartbeat.
	startHead storage.Position
	gtid      string
	keyBuf    []sqlvalue.Value
}

// Stream reads the binary log from `from` as a replica with the
// configured server id, delivering every committed transaction of the
// synced tables. Heartbeats of an idle server become Keepalive calls at the
// position reached.
func (s *Source) Stream(ctx context.Context, slot string, from storage.Position, tables func(sqlvalue.TableRef) *source.Table, h source.Handler) error {
	var checksum string
	if err := s.db.QueryRowContext(ctx, "SELECT @@GLOBAL.binlog_checksum").Scan(&checksum); err != nil {
		return wrap("read binlog_checksum", err)
	}
	files, last, err := s.binlogFiles(ctx)
	if err != nil {
		return err
	}
	seq, off := splitPosition(from)
	if _, ok := files[seq]; !ok || last == "" {
		return fmt.Errorf("mysql source: %w: binary log file %06d is not on the server", ErrPositionLost, seq)
	}
	off = max(off, 4)
	file := fileName(last, seq)
	// Once the stream reaches the head as of now it reports its position
	// at once (the first checkpoint after a snapshot waits for that), not
	// only on the next heartbeat.
	head, err := s.Head(ctx)
	if err != nil {
		return err
	}

	conn, err := dialBinlog(ctx, s.addr, s.user, s.password, 30*time.Second)
	if err != nil {
		return wrap("binlog connection", err)
	}
	// The connection is closed when Stream returns or ctx ends, whichever
	// is first; closing it ends a blocked read.
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-done:
		}
		conn.Close()
	}()
	defer func() {
		close(done)
		wg.Wait()
	}()

	setup := []string{
		"SET @master_binlog_checksum = @@GLOBAL.binlog_checksum",
		"SET @mariadb_slave_capability = 4",
		fmt.Sprintf("SET @master_heartbeat_period = %d", s.opts.HeartbeatInterval.Nanoseconds()),
	}
	for _, q := range setup {
		if err := conn.exec(q); err != nil {
			return wrap("prepare the binlog connection", err)
		}
	}
	if err := conn.startDump(s.serverID(slot), file, off); err != nil {
		return wrap("request the binary log", err)
	}
	s.log.Info("streaming the binary log", "slot", slot, "file", file, "offset", off, "mariadb", conn.mariaDB)
	st := &streamState{s: s, h: h, tables: tables, conn: conn, csum: strings.EqualFold(checksum, "CRC32"),
		fd: formatDesc{tableIDLen: 6}, file: file, seq: seq,
		maps: map[uint64]*mapped{}, schemas: map[string]*tableSchema{}, extra: map[string]*source.Table{},
		committed: from, last: from, startHead: head}
	err = st.run(ctx)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// serverID is the replica id of a slot's stream. Two streams run at once
// while a new sync config version replaces the active one, and a server
// disconnects a replica when another connects with the same id, so each
// slot gets its own: the configured server_id plus the version number of
// the slot (modulo 1000), or, without one, an id derived from the slot
// name from 100000 up.
func (s *Source) serverID(slot string) uint32 {
	if s.opts.ServerID != 0 {
		return s.opts.ServerID + slotVersion(slot)%1000
	}
	h := fnv.New32a()
	h.Write([]byte(slot))
	return 100000 + h.Sum32()%(1<<32-100001)
}

// slotVersion is the version number in a slot name ("powersync_12_ab3f" →
// 12), or a hash of the name when it has none.
func slotVersion(slot string) uint32 {
	if i := strings.LastIndexByte(slot, '_'); i > 0 {
		j := i
		for j > 0 && slot[j-1] >= '0' && slot[j-1] <= '9' {
			j--
		}
		if n, err := strconv.ParseUint(slot[j:i], 10, 32); err == nil && j < i {
			return uint32(n)
		}
	}
	h := fnv.New32a()
	h.Write([]byte(slot))
	return h.Sum32()
}

func (st *streamState) run(ctx context.Context) error {
	idle := 3*st.s.opts.HeartbeatInterval + 10*time.Second
	for {
		_ = st.conn.nc.SetReadDeadline(time.Now().Add(idle))
		raw, err := st.conn.readEvent()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return wrap("read the binary log", err)
		}
		h, body, err := splitEvent(raw, st.csum)
		if err != nil {
			return fmt.Errorf("mysql source: %w", err)
		}
		if err := st.event(ctx, h, body); err != nil {
			return err
		}
		// A group is waiting: commit it once nothing more is ready to read.
		if st.groupTxs > 0 && st.conn.r.Buffered() == 0 {
			if err := st.commitGroup(ctx); err != nil {
				return err
			}
		}
		if !st.reported && !st.inTx && st.last >= st.startHead {
			if err := st.keepalive(ctx); err != nil {
				return err
			}
		}
	}
}

func (st *streamState) pos(logPos uint32) storage.Position {
	return storage.Position(uint64(st.seq)<<32 | uint64(logPos))
}

func (st *streamState) event(ctx context.Context, h eventHeader, body []byte) error {
	switch h.typ {
	case eventRotate:
		file, off, err := parseRotate(body)
		if err != nil {
			return err
		}
		seq, ok := fileSeq(file)
		if !ok {
			return fmt.Errorf("mysql source: binary log file name %q has no sequence number", file)
		}
		st.file, st.seq = file, seq
		if !st.inTx {
			p := st.pos(uint32(off))
			if p > st.last {
				st.last = p
			}
		}
		// Table ids are per file.
		clear(st.maps)
		return nil
	case eventFormatDesc:
		fd, err := parseFormatDesc(body)
		if err != nil {
			return err
		}
		st.fd = fd
		return nil
	case eventHeartbeat, eventHeartbeatV2:
		return st.keepalive(ctx)
	case eventMariaGTID:
		if len(body) >= 13 {
			seq := uint64(body[0]) | uint64(body[1])<<8 | uint64(body[2])<<16 | uint64(body[3])<<24 |
				uint64(body[4])<<32 | uint64(body[5])<<40 | uint64(body[6])<<48 | uint64(body[7])<<56
			domain := uint32(body[8]) | uint32(body[9])<<8 | uint32(body[10])<<16 | uint32(body[11])<<24
			st.gtid = fmt.Sprintf("%d-%d-%d", domain, h.serverID, seq)
			// A standalone event group (DDL) has no BEGIN/XID; its query
			// ends it.
			st.begin(body[12]&1 == 0)
		}
		return nil
	case eventGTID:
		if len(body) >= 25 {
			sid := body[1:17]
			gno := uint64(0)
			for i := 7; i >= 0; i-- {
				gno = gno<<8 | uint64(body[17+i])
			}
			st.gtid = fmt.Sprintf("%x-%x-%x-%x-%x:%d", sid[0:4], sid[4:6], sid[6:8], sid[8:10], sid[10:16], gno)
		}
		return nil
	case eventQuery:
		schema, q, err := parseQuery(body)
		if err != nil {
			return err
		}
		return st.query(ctx, h, schema, q)
	case eventXID:
		return st.end(ctx, h.logPos)
	case eventTableMap:
		tm, err := parseTableMap(body, st.fd.tableIDLen)
		if err != nil {
			return err
		}
		return st.tableMap(ctx, tm)
	case eventWriteRowsV1, eventUpdateRowsV1, eventDeleteRowsV1, eventWriteRowsV2, eventUpdateRowsV2, eventDeleteRowsV2:
		ev, err := parseRowsEvent(h.typ, body, st.fd.tableIDLen)
		if err != nil {
			return err
		}
		return st.rows(ctx, ev)
	case eventStop:
		return nil
	}
	if h.typ >= eventMariaCompressed && h.typ <= eventMariaLastComp {
		return &CheckError{Problem: "the binary log holds compressed events (log_bin_compress), which are not supported",
			Fix: "SET GLOBAL log_bin_compress = OFF; (and log_bin_compress = OFF in my.cnf)"}
	}
	if !st.inTx && h.logPos > 0 {
		if p := st.pos(h.logPos); p > st.last {
			st.last = p
		}
	}
	return nil
}

// begin starts a transaction (an event group).
func (st *streamState) begin(tx bool) {
	st.inTx = tx
	st.txChanges = 0
}

// end ends a transaction at logPos.
func (st *streamState) end(ctx context.Context, logPos uint32) error {
	st.inTx = false
	p := st.pos(logPos)
	if p > st.last {
		st.last = p
	}
	if st.txChanges == 0 {
		if st.groupTxs > 0 {
			st.groupPos = p
		}
		return nil
	}
	if st.groupTxs == 0 {
		st.groupStart = time.Now()
	}
	st.groupPos = p
	st.groupTxs++
	st.groupChanges += st.txChanges
	st.txChanges = 0
	if st.groupChanges >= groupMaxChanges || time.Since(st.groupStart) >= groupMaxAge {
		return st.commitGroup(ctx)
	}
	return nil
}

// commitGroup hands the committed transactions received so far to the
// handler; once it returns they are durable.
func (st *streamState) commitGroup(ctx context.Context) error {
	if st.groupTxs == 0 {
		return nil
	}
	if err := st.h.Commit(ctx, st.groupPos); err != nil {
		return err
	}
	st.committed = max(st.committed, st.groupPos)
	st.reported = true
	st.groupTxs, st.groupChanges = 0, 0
	return nil
}

// keepalive reports the position reached by events that changed nothing
// synced, so checkpoints and write checkpoints move on an idle source.
func (st *streamState) keepalive(ctx context.Context) error {
	if st.inTx {
		return nil
	}
	if err := st.commitGroup(ctx); err != nil {
		return err
	}
	if st.last <= st.committed && st.reported {
		return nil
	}
	if err := st.h.Keepalive(ctx, st.last); err != nil {
		return err
	}
	st.committed = max(st.committed, st.last)
	st.reported = true
	return nil
}

// Statements of QUERY events the stream acts on.
var (
	reComment  = regexp.MustCompile(`(?s)/\*.*?\*/|--[^\n]*|#[^\n]*`)
	reTruncate = regexp.MustCompile("(?i)^truncate\\s+(?:table\\s+)?(" + identPattern + ")")
	reCreate   = regexp.MustCompile("(?i)^create\\s+(?:or\\s+replace\\s+)?(?:temporary\\s+)?table\\s+(?:if\\s+not\\s+exists\\s+)?(" + identPattern + ")")
	reDrop     = regexp.MustCompile(`(?i)^drop\s+(?:temporary\s+)?tables?\s+(?:if\s+exists\s+)?(.*)$`)
	reAlter    = regexp.MustCompile("(?i)^alter\\s+(?:online\\s+|ignore\\s+)*table\\s+(?:if\\s+exists\\s+)?(" + identPattern + ")(.*)$")
	reRename   = regexp.MustCompile(`(?i)^rename\s+tables?\s+(.*)$`)
	reAlterRen = regexp.MustCompile("(?i)\\brename\\s+(?:to\\s+|as\\s+)?(" + identPattern + ")\\s*$")
	reIdent    = regexp.MustCompile(identPattern)
	rePart     = regexp.MustCompile("`(?:[^`]|``)+`|[A-Za-z0-9_$]+")
)

const identPattern = "(?:`(?:[^`]|``)+`|[A-Za-z0-9_$]+)(?:\\s*\\.\\s*(?:`(?:[^`]|``)+`|[A-Za-z0-9_$]+))?"

// splitIdent splits "db.t", "`db`.`t`" or "t" (in schema def).
func splitIdent(s, def string) (schema, name string) {
	parts := rePart.FindAllString(s, 2)
	unq := func(p string) string {
		if strings.HasPrefix(p, "`") {
			return strings.ReplaceAll(p[1:len(p)-1], "``", "`")
		}
		return p
	}
	if len(parts) == 2 {
		return unq(parts[0]), unq(parts[1])
	}
	if len(parts) == 1 {
		return def, unq(parts[0])
	}
	return def, ""
}

// query handles a QUERY event: BEGIN and COMMIT of non-XID transactions,
// and DDL. TRUNCATE and DROP of a synced table clear it; CREATE (and RENAME
// to) a table matching the sync config copies it; ALTER refreshes the
// table's columns.
func (st *streamState) query(ctx context.Context, h eventHeader, schema, q string) error {
	stmt := strings.TrimSpace(reComment.ReplaceAllString(q, " "))
	upper := strings.ToUpper(stmt)
	switch {
	case upper == "BEGIN" || strings.HasPrefix(upper, "XA START"):
		st.begin(true)
		return nil
	case upper == "COMMIT" || upper == "ROLLBACK" || strings.HasPrefix(upper, "XA END") || strings.HasPrefix(upper, "XA COMMIT"):
		return st.end(ctx, h.logPos)
	case strings.HasPrefix(upper, "SAVEPOINT") || strings.HasPrefix(upper, "ROLLBACK TO"):
		return nil
	}
	// DDL: an implicit commit of its own.
	if err := st.commitGroup(ctx); err != nil {
		return err
	}
	st.inTx = false
	st.txChanges = 0
	clear(st.schemas)
	var truncate []string // schema.table
	var created []string
	if m := reTruncate.FindStringSubmatch(stmt); m != nil {
		sc, n := splitIdent(m[1], schema)
		truncate = append(truncate, sc+"."+n)
	} else if m := reDrop.FindStringSubmatch(stmt); m != nil {
		for _, id := range reIdent.FindAllString(m[1], -1) {
			if strings.EqualFold(id, "restrict") || strings.EqualFold(id, "cascade") {
				continue
			}
			sc, n := splitIdent(id, schema)
			truncate = append(truncate, sc+"."+n)
		}
	} else if m := reCreate.FindStringSubmatch(stmt); m != nil {
		sc, n := splitIdent(m[1], schema)
		created = append(created, sc+"."+n)
	} else if m := reRename.FindStringSubmatch(stmt); m != nil {
		var ids []string
		for _, id := range reIdent.FindAllString(m[1], -1) {
			if !strings.EqualFold(id, "to") {
				ids = append(ids, id)
			}
		}
		for i := 0; i+1 < len(ids); i += 2 {
			sc, n := splitIdent(ids[i], schema)
			truncate = append(truncate, sc+"."+n)
			sc, n = splitIdent(ids[i+1], schema)
			created = append(created, sc+"."+n)
		}
	} else if m := reAlter.FindStringSubmatch(stmt); m != nil {
		if r := reAlterRen.FindStringSubmatch(m[2]); r != nil {
			sc, n := splitIdent(m[1], schema)
			truncate = append(truncate, sc+"."+n)
			sc, n = splitIdent(r[1], schema)
			created = append(created, sc+"."+n)
		}
	}
	for _, id := range truncate {
		t := st.lookup(id)
		if t == nil {
			continue
		}
		st.s.log.Info("table cleared by a statement in the binary log", "table", id, "statement", firstWords(stmt))
		st.txChanges++
		if err := st.h.Change(ctx, source.Change{Kind: source.Truncate, Table: t}); err != nil {
			return err
		}
	}
	for _, id := range created {
		sc, n, _ := strings.Cut(id, ".")
		if st.lookup(id) != nil {
			continue
		}
		t, err := st.s.newTable(ctx, sc, n)
		if err != nil {
			var ce *CheckError
			if errors.As(err, &ce) {
				st.s.log.Warn("a new table matches the sync config but cannot be replicated", "table", id, "problem", ce.Problem, "fix", ce.Fix)
				continue
			}
			return err
		}
		if t == nil {
			continue
		}
		st.extra[id] = t
		if err := st.copyNewTable(ctx, t); err != nil {
			return err
		}
	}
	return st.end(ctx, h.logPos)
}

func firstWords(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// lookup returns the synced table of "schema.table", or nil.
func (st *streamState) lookup(id string) *source.Table {
	if t := st.extra[id]; t != nil {
		return t
	}
	sc, n, _ := strings.Cut(id, ".")
	for _, r := range st.s.refs(sc, n) {
		if t := st.tables(r); t != nil && t.ID == id {
			return t
		}
	}
	return nil
}

// copyNewTable copies the rows of a table that appeared in the binary log
// (created or renamed into a name the sync config reads) inside the event
// group that created it; the Truncate that starts the copy is marked Copy,
// so replication records it as copied in the same storage commit.
func (st *streamState) copyNewTable(ctx context.Context, t *source.Table) error {
	st.s.log.Info("copying a table that appeared in the binary log", "table", t.ID)
	st.txChanges++
	if err := st.h.Change(ctx, source.Change{Kind: source.Truncate, Table: t, Copy: true}); err != nil {
		return err
	}
	return st.s.Snapshot(ctx, t, nil, func(page source.SnapshotPage) error {
		for i, row := range page.Rows {
			st.txChanges++
			if err := st.h.Change(ctx, source.Change{Kind: source.Insert, Table: t, Key: page.Keys[i], Row: row}); err != nil {
				return err
			}
		}
		return nil
	})
}

// tableMap records a TABLE_MAP event, resolving its table and columns.
func (st *streamState) tableMap(ctx context.Context, tm *tableMap) error {
	id := tm.schema + "." + tm.table
	m := &mapped{schema: tm.schema, name: tm.table, table: st.lookup(id)}
	if m.table == nil {
		st.maps[tm.id] = m
		return nil
	}
	ts := st.schemas[id]
	if ts == nil {
		var err error
		if ts, err = st.s.readSchema(ctx, tm.schema, tm.table); err != nil {
			return err
		}
		st.schemas[id] = ts
	}
	n := len(tm.types)
	m.cols = make([]column, n)
	for i := 0; i < n; i++ {
		c := &m.cols[i]
		switch {
		case tm.names != nil:
			c.name = tm.names[i]
			for j := range ts.cols {
				if ts.cols[j].name == c.name {
					*c = ts.cols[j]
				}
			}
		case len(ts.cols) == n:
			*c = ts.cols[i]
		default:
			return fmt.Errorf("mysql source: table %s has %d columns in the binary log and %d now, and the binary log carries no column names; set binlog_row_metadata = FULL", id, n, len(ts.cols))
		}
		c.typ, c.meta = tm.types[i], tm.meta[i]
		if tm.unsigned != nil {
			c.unsigned = tm.unsigned[i]
		}
	}
	// ENUM and SET members from the event when it has them.
	ei, si := 0, 0
	for i := range m.cols {
		switch m.cols[i].typ {
		case typeEnum:
			if ei < len(tm.enums) {
				m.cols[i].labels = tm.enums[ei]
			}
			ei++
		case typeSet:
			if si < len(tm.sets) {
				m.cols[i].labels = tm.sets[si]
			}
			si++
		}
	}
	for _, k := range m.table.KeyColumns {
		found := -1
		for i := range m.cols {
			if m.cols[i].name == k {
				found = i
			}
		}
		if found < 0 {
			return fmt.Errorf("mysql source: table %s: key column %s is not in the binary log's row", id, k)
		}
		m.keyIdx = append(m.keyIdx, found)
	}
	st.maps[tm.id] = m
	return nil
}

// rows turns a rows event into changes.
func (st *streamState) rows(ctx context.Context, ev *rowsEvent) error {
	m := st.maps[ev.tableID]
	if m == nil {
		return fmt.Errorf("mysql source: rows event for unknown table id %d (no table map)", ev.tableID)
	}
	if m.table == nil {
		return nil
	}
	if ev.ncols != len(m.cols) {
		return fmt.Errorf("mysql source: rows event of %s.%s has %d columns, its table map %d", m.schema, m.name, ev.ncols, len(m.cols))
	}
	b := ev.rows
	for len(b) > 0 {
		row, n, err := st.image(m, ev.present, b)
		if err != nil {
			return fmt.Errorf("mysql source: table %s: %w", m.table.ID, err)
		}
		b = b[n:]
		switch ev.kind {
		case eventWriteRowsV1:
			st.txChanges++
			if err := st.h.Change(ctx, source.Change{Kind: source.Insert, Table: m.table, Key: st.key(m, row), Row: row}); err != nil {
				return err
			}
		case eventDeleteRowsV1:
			st.txChanges++
			if err := st.h.Change(ctx, source.Change{Kind: source.Delete, Table: m.table, Key: st.key(m, row)}); err != nil {
				return err
			}
		case eventUpdateRowsV1:
			after, n, err := st.image(m, ev.after, b)
			if err != nil {
				return fmt.Errorf("mysql source: table %s: %w", m.table.ID, err)
			}
			b = b[n:]
			c := source.Change{Kind: source.Update, Table: m.table, Key: st.key(m, after), Row: after}
			if old := st.key(m, row); string(old) != string(c.Key) {
				c.OldKey = old
			}
			st.txChanges++
			if err := st.h.Change(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// image decodes one row image: a null bitmap over the present columns,
// then their non-null values.
func (st *streamState) image(m *mapped, present []byte, b []byte) (sqlvalue.Row, int, error) {
	npresent := 0
	for i := range m.cols {
		if present[i/8]&(1<<(i%8)) != 0 {
			npresent++
		}
	}
	nb := (npresent + 7) / 8
	if len(b) < nb {
		return nil, 0, errShort
	}
	nulls := b[:nb]
	pos := nb
	row := make(sqlvalue.Row, len(m.cols))
	bit := 0
	for i := range m.cols {
		if present[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		c := &m.cols[i]
		if nulls[bit/8]&(1<<(bit%8)) != 0 {
			row[c.name] = sqlvalue.Null
			bit++
			continue
		}
		bit++
		v, n, err := st.s.dec.binlogValue(c, b[pos:])
		if err != nil {
			return nil, 0, fmt.Errorf("column %s: %w", c.name, err)
		}
		row[c.name] = v
		pos += n
	}
	return row, pos, nil
}

func (st *streamState) key(m *mapped, row sqlvalue.Row) []byte {
	if cap(st.keyBuf) < len(m.keyIdx) {
		st.keyBuf = make([]sqlvalue.Value, len(m.keyIdx))
	}
	vals := st.keyBuf[:len(m.keyIdx)]
	for i, k := range m.keyIdx {
		vals[i] = row[m.cols[k].name]
	}
	return source.AppendKey(nil, vals)
}
