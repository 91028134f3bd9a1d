package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/powersync-go/powersync/internal/source"
	"github.com/powersync-go/powersync/internal/sqlvalue"
	"github.com/powersync-go/powersync/internal/storage"
)

func parseLSN(s string) (storage.Position, error) {
	l, err := pglogrepl.ParseLSN(s)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	return storage.Position(l), nil
}

// replicationConn opens a walsender connection in database mode.
func (s *Source) replicationConn(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := pgconn.ParseConfig(s.opts.ConnString)
	if err != nil {
		return nil, fmt.Errorf("postgres source: connection string: %w", err)
	}
	setSessionParams(cfg.RuntimeParams)
	if err := applyTLS(cfg, s.opts.TLS); err != nil {
		return nil, fmt.Errorf("postgres source: %w", err)
	}
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres source: replication connection: %w", err)
	}
	return conn, nil
}

// Start makes sure the slot exists and is usable. A missing or lost slot is
// (re)created and reported fresh: everything must be copied again, because
// the changes between the old slot's position and the new one are gone.
func (s *Source) Start(ctx context.Context, slot string, resume storage.Position) (storage.Position, bool, error) {
	if !validSlotName(slot) {
		return 0, false, fmt.Errorf("postgres source: invalid replication slot name %q (lower-case letters, digits and _ only, at most 63)", slot)
	}
	if err := s.check(ctx, slot); err != nil {
		return 0, false, err
	}
	var walStatus, plugin, confirmed *string
	var database string
	err := s.pool.QueryRow(ctx, `
		SELECT wal_status, plugin, confirmed_flush_lsn::text, coalesce(database, '')
		FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, slot).
		Scan(&walStatus, &plugin, &confirmed, &database)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if resume != 0 {
			s.log.Warn("replication slot is missing; starting a fresh replication stream (the changes since the last position are gone, so the data must be copied again)",
				"slot", slot, "resume_lsn", pglogrepl.LSN(resume).String())
		}
	case err != nil:
		return 0, false, fmt.Errorf("postgres source: read replication slot %s: %w", slot, err)
	case walStatus != nil && *walStatus == "lost":
		s.log.Warn("replication slot lost its WAL (max_slot_wal_keep_size exceeded?); dropping it and starting a fresh replication stream",
			"slot", slot)
		if err := s.Drop(ctx, slot); err != nil {
			return 0, false, err
		}
	case plugin == nil || *plugin != "pgoutput":
		return 0, false, fmt.Errorf("postgres source: replication slot %s exists but is not a logical pgoutput slot", slot)
	default:
		pos := resume
		if pos == 0 && confirmed != nil {
			if pos, err = parseLSN(*confirmed); err != nil {
				return 0, false, err
			}
		}
		return pos, false, nil
	}

	conn, err := s.replicationConn(ctx)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close(context.Background())
	res, err := pglogrepl.CreateReplicationSlot(ctx, conn, slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
	if err != nil {
		return 0, false, fmt.Errorf("postgres source: create replication slot %s: %w", slot, err)
	}
	pos, err := parseLSN(res.ConsistentPoint)
	if err != nil {
		return 0, false, err
	}
	s.log.Info("created replication slot", "slot", slot, "lsn", res.ConsistentPoint)
	return pos, true, nil
}

func validSlotName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// relation is a table of the change stream as announced by pgoutput.
type relation struct {
	ref    sqlvalue.TableRef
	table  *source.Table // nil: not synced
	cols   []column
	keyIdx []int
	// typeNames are the SQL types by column, read when first needed.
	typeNames map[string]string
}

// streamState is the state of one Stream call, owned by its goroutine.
type streamState struct {
	s      *Source
	slot   string
	h      source.Handler
	tables func(sqlvalue.TableRef) *source.Table
	rels   map[uint32]*relation
	// extra are tables picked up while streaming (see copyNewTable).
	extra map[sqlvalue.TableRef]*source.Table
	inTx  bool
	// A group of committed transactions not yet handed to Handler.Commit:
	// small transactions arriving back to back are committed to storage
	// together (one storage commit per transaction caps throughput at the
	// storage's commit rate).
	groupPos     pglogrepl.LSN
	groupTxs     int
	groupChanges int
	groupStart   time.Time
	txChanges    int
	// acked is the position replication made durable (what the slot may
	// release); received is the last position the server sent.
	acked    pglogrepl.LSN
	received pglogrepl.LSN
	keyBuf   []sqlvalue.Value
}

// Stream follows the slot from `from`, delivering every committed
// transaction of the synced tables. Transactions are committed one by one
// (Handler.Commit at the end of each); our own keepalive messages, written
// periodically and by Head, become Handler.Keepalive calls. The slot is
// acknowledged only up to what the handler returned from.
func (s *Source) Stream(ctx context.Context, slot string, from storage.Position, tables func(sqlvalue.TableRef) *source.Table, h source.Handler) error {
	conn, err := s.replicationConn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	args := []string{"proto_version '1'", "publication_names '" + PublicationName + "'", "messages 'true'"}
	if v := serverMajor(conn); v > 0 && v < 14 {
		args = args[:2] // logical message contents arrive only from 14 on
	}
	err = pglogrepl.StartReplication(ctx, conn, slot, pglogrepl.LSN(from),
		pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: args})
	if err != nil {
		if slotLost(err) {
			return fmt.Errorf("%w: %v", ErrSlotLost, err)
		}
		return fmt.Errorf("postgres source: start replication on slot %s: %w", slot, err)
	}
	s.log.Info("streaming changes", "slot", slot, "from", pglogrepl.LSN(from).String())

	// The heartbeat keeps an idle database moving: our logical message gets
	// a WAL position, the stream reports it, the slot advances.
	hbCtx, stopHB := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.opts.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-hbCtx.Done():
				return
			case <-t.C:
				if err := s.ping(hbCtx); err != nil && hbCtx.Err() == nil {
					s.log.Warn("heartbeat message failed", "error", err)
				}
			}
		}
	}()
	defer func() {
		stopHB()
		wg.Wait()
	}()

	st := &streamState{s: s, slot: slot, h: h, tables: tables, rels: make(map[uint32]*relation),
		extra: make(map[sqlvalue.TableRef]*source.Table),
		acked: pglogrepl.LSN(from), received: pglogrepl.LSN(from)}
	return st.run(ctx, conn)
}

func serverMajor(conn *pgconn.PgConn) int {
	v := conn.ParameterStatus("server_version")
	n := 0
	for _, r := range v {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

func (st *streamState) run(ctx context.Context, conn *pgconn.PgConn) error {
	interval := st.s.opts.StatusInterval
	nextStatus := time.Now().Add(interval)
	for {
		if time.Now().After(nextStatus) {
			if err := st.sendStatus(ctx, conn, false); err != nil {
				return err
			}
			nextStatus = time.Now().Add(interval)
		}
		deadline := nextStatus
		if st.groupTxs > 0 {
			// A group is waiting: commit it as soon as nothing more is
			// ready to read.
			deadline = time.Now().Add(groupWait)
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		msg, err := conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				if err := st.commitGroup(ctx); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("postgres source: receive: %w", err)
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			if len(msg.Data) == 0 {
				continue
			}
			switch msg.Data[0] {
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("postgres source: keepalive: %w", err)
				}
				// Outside a transaction, everything up to the server's WAL
				// end has been delivered and handled: no transaction that
				// commits at or before it is pending, so the slot may move
				// there without a storage write (which would only feed WAL
				// back when storage shares the server).
				if !st.inTx && st.groupTxs == 0 && ka.ServerWALEnd > st.acked {
					st.acked = ka.ServerWALEnd
				}
				if ka.ReplyRequested {
					if err := st.sendStatus(ctx, conn, false); err != nil {
						return err
					}
					nextStatus = time.Now().Add(interval)
				}
			case pglogrepl.XLogDataByteID:
				xld, err := pglogrepl.ParseXLogData(msg.Data[1:])
				if err != nil {
					return fmt.Errorf("postgres source: xlog data: %w", err)
				}
				if xld.WALStart > st.received {
					st.received = xld.WALStart
				}
				if err := st.handle(ctx, xld); err != nil {
					return err
				}
			}
		case *pgproto3.ErrorResponse:
			err := pgconn.ErrorResponseToPgError(msg)
			if slotLost(err) {
				return fmt.Errorf("%w: %v", ErrSlotLost, err)
			}
			return fmt.Errorf("postgres source: replication stream: %w", err)
		case *pgproto3.CopyDone:
			return fmt.Errorf("postgres source: server ended the replication stream")
		}
	}
}

func (st *streamState) sendStatus(ctx context.Context, conn *pgconn.PgConn, reply bool) error {
	err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{
		WALWritePosition: st.acked,
		WALFlushPosition: st.acked,
		WALApplyPosition: st.acked,
		ReplyRequested:   reply,
	})
	if err != nil {
		return fmt.Errorf("postgres source: send status: %w", err)
	}
	return nil
}

// handle decodes one pgoutput message.
func (st *streamState) handle(ctx context.Context, xld pglogrepl.XLogData) error {
	m, err := pglogrepl.Parse(xld.WALData)
	if err != nil {
		return fmt.Errorf("postgres source: decode pgoutput message: %w", err)
	}
	switch m := m.(type) {
	case *pglogrepl.RelationMessage:
		return st.relation(ctx, m)
	case *pglogrepl.BeginMessage:
		st.inTx = true
		st.txChanges = 0
	case *pglogrepl.CommitMessage:
		st.inTx = false
		if st.txChanges == 0 {
			// Nothing synced changed (for example the bucket storage's own
			// writes when it shares the database): no storage commit, which
			// would only write more WAL.
			if st.groupTxs > 0 {
				st.groupPos = m.TransactionEndLSN
			} else if m.TransactionEndLSN > st.acked {
				st.acked = m.TransactionEndLSN
			}
			return nil
		}
		if st.groupTxs == 0 {
			st.groupStart = time.Now()
		}
		st.groupPos = m.TransactionEndLSN
		st.groupTxs++
		st.groupChanges += st.txChanges
		if st.groupChanges >= groupMaxChanges || time.Since(st.groupStart) >= groupMaxAge {
			return st.commitGroup(ctx)
		}
	case *pglogrepl.InsertMessage:
		rel, err := st.rel(m.RelationID)
		if err != nil || rel.table == nil {
			return err
		}
		row, unchanged := st.row(rel, m.Tuple)
		st.txChanges++
		return st.h.Change(ctx, source.Change{Kind: source.Insert, Table: rel.table,
			Key: st.key(rel, row), Row: row, Unchanged: unchanged})
	case *pglogrepl.UpdateMessage:
		rel, err := st.rel(m.RelationID)
		if err != nil || rel.table == nil {
			return err
		}
		row, unchanged := st.row(rel, m.NewTuple)
		c := source.Change{Kind: source.Update, Table: rel.table, Key: st.key(rel, row), Row: row, Unchanged: unchanged}
		if m.OldTuple != nil {
			old, _ := st.row(rel, m.OldTuple)
			if m.OldTupleType == pglogrepl.UpdateMessageTupleTypeOld && len(c.Unchanged) > 0 {
				// REPLICA IDENTITY FULL: the old row is complete, so the
				// unchanged TOAST values are known.
				var still []string
				for _, name := range c.Unchanged {
					if v, ok := old[name]; ok {
						c.Row[name] = v
					} else {
						still = append(still, name)
					}
				}
				c.Unchanged = still
			}
			if oldKey := st.key(rel, old); string(oldKey) != string(c.Key) {
				c.OldKey = oldKey
			}
		}
		if len(c.Unchanged) > 0 && !st.s.opts.ReportUnchanged {
			if err := st.fetchUnchanged(ctx, rel, m.NewTuple, &c); err != nil {
				return err
			}
		}
		st.txChanges++
		return st.h.Change(ctx, c)
	case *pglogrepl.DeleteMessage:
		rel, err := st.rel(m.RelationID)
		if err != nil || rel.table == nil {
			return err
		}
		if m.OldTuple == nil {
			return nil
		}
		old, _ := st.row(rel, m.OldTuple)
		st.txChanges++
		return st.h.Change(ctx, source.Change{Kind: source.Delete, Table: rel.table, Key: st.key(rel, old)})
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			rel, err := st.rel(id)
			if err != nil {
				return err
			}
			if rel.table == nil {
				continue
			}
			st.txChanges++
			if err := st.h.Change(ctx, source.Change{Kind: source.Truncate, Table: rel.table}); err != nil {
				return err
			}
		}
	case *pglogrepl.LogicalDecodingMessage:
		if m.Prefix != PublicationName || m.Transactional || st.inTx {
			return nil
		}
		if err := st.commitGroup(ctx); err != nil {
			return err
		}
		pos := m.LSN
		if xld.WALStart > pos {
			pos = xld.WALStart
		}
		if err := st.h.Keepalive(ctx, storage.Position(pos)); err != nil {
			return err
		}
		if pos > st.acked {
			st.acked = pos
		}
	}
	return nil
}

// Grouping of small transactions into one storage commit.
const (
	groupWait       = time.Millisecond
	groupMaxChanges = 20000
	groupMaxAge     = 250 * time.Millisecond
)

// commitGroup hands the committed transactions received so far to the
// handler; once it returns they are durable and the slot may release them.
func (st *streamState) commitGroup(ctx context.Context) error {
	if st.groupTxs == 0 {
		return nil
	}
	if err := st.h.Commit(ctx, storage.Position(st.groupPos)); err != nil {
		return err
	}
	if st.groupPos > st.acked {
		st.acked = st.groupPos
	}
	st.groupTxs, st.groupChanges = 0, 0
	return nil
}

func (st *streamState) rel(id uint32) (*relation, error) {
	r, ok := st.rels[id]
	if !ok {
		return nil, fmt.Errorf("postgres source: change for unknown relation %d (no relation message)", id)
	}
	return r, nil
}

// relation records a table's shape. pgoutput sends it before the first
// change of the table in a session and again after its schema changed.
func (st *streamState) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	ref := sqlvalue.TableRef{Schema: m.Namespace, Name: m.RelationName}
	r := &relation{ref: ref, table: st.tables(ref)}
	copyNow := false
	if r.table == nil {
		r.table = st.extra[ref]
	}
	if r.table == nil {
		t, err := st.s.newTable(ctx, ref)
		if err != nil {
			return err
		}
		if t != nil {
			r.table, copyNow = t, true
			st.extra[ref] = t
		}
	}
	oids := make([]uint32, 0, len(m.Columns))
	for _, c := range m.Columns {
		oids = append(oids, c.DataType)
	}
	if r.table != nil {
		if err := st.s.types.resolve(ctx, st.s.pool, oids); err != nil {
			return err
		}
	}
	var keyCols []string
	for _, c := range m.Columns {
		r.cols = append(r.cols, column{name: c.Name, typeOID: c.DataType, typ: st.s.types.lookup(c.DataType)})
		if c.Flags&1 != 0 {
			keyCols = append(keyCols, c.Name)
		}
	}
	if r.table != nil {
		keys := r.table.KeyColumns
		if len(keys) == 0 {
			keys = keyCols
			r.table.KeyColumns = keyCols
		}
		idx, err := keyIndexes(r.cols, keys)
		if err != nil {
			return fmt.Errorf("postgres source: table %s.%s: %w", ref.Schema, ref.Name, err)
		}
		r.keyIdx = idx
		if cap(st.keyBuf) < len(idx) {
			st.keyBuf = make([]sqlvalue.Value, len(idx))
		}
	}
	st.rels[m.RelationID] = r
	if copyNow {
		return st.copyNewTable(ctx, r.table)
	}
	return nil
}

// fetchUnchanged reads the TOASTed values an update did not send from the
// table itself, by key. The value read may be newer than the update; the
// changes after it follow in the stream, so the row converges as after the
// snapshot. A row deleted since keeps NULL in those columns until its
// delete arrives.
func (st *streamState) fetchUnchanged(ctx context.Context, rel *relation, tuple *pglogrepl.TupleData, c *source.Change) error {
	if rel.typeNames == nil {
		cols, err := st.s.columns(ctx, rel.ref)
		if err != nil {
			return err
		}
		rel.typeNames = map[string]string{}
		for _, col := range cols {
			rel.typeNames[col.name] = col.typeName
		}
	}
	var sel, where []string
	var args [][]byte
	for _, name := range c.Unchanged {
		sel = append(sel, pgx.Identifier{name}.Sanitize())
	}
	for i, k := range rel.keyIdx {
		col := tuple.Columns[k]
		if col.DataType != pglogrepl.TupleDataTypeText {
			return fmt.Errorf("postgres source: table %s: key column %s not sent with the update", rel.table.ID, rel.cols[k].name)
		}
		where = append(where, fmt.Sprintf("%s = $%d::%s", pgx.Identifier{rel.cols[k].name}.Sanitize(), i+1, rel.typeNames[rel.cols[k].name]))
		args = append(args, col.Data)
	}
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(sel, ", "),
		pgx.Identifier{rel.ref.Schema, rel.ref.Name}.Sanitize(), strings.Join(where, " AND "))
	conn, err := st.s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres source: read unchanged values: %w", err)
	}
	defer conn.Release()
	res := conn.Conn().PgConn().ExecParams(ctx, sql, args, nil, nil, nil)
	found := false
	for res.NextRow() {
		found = true
		for i, v := range res.Values() {
			name := c.Unchanged[i]
			if v == nil {
				c.Row[name] = sqlvalue.Null
			} else {
				c.Row[name] = st.s.dec.decode(rel.colType(name), v)
			}
		}
	}
	if _, err := res.Close(); err != nil {
		return fmt.Errorf("postgres source: read unchanged values of %s: %w", rel.table.ID, err)
	}
	if !found {
		for _, name := range c.Unchanged {
			c.Row[name] = sqlvalue.Null
		}
	}
	c.Unchanged = nil
	return nil
}

func (r *relation) colType(name string) *typeInfo {
	for i := range r.cols {
		if r.cols[i].name == name {
			return r.cols[i].typ
		}
	}
	return &typeInfo{kind: kText}
}

// copyNewTable copies the current rows of a table that appeared while
// streaming (created, or added to the publication, after the snapshot) as
// part of the transaction that first changed it; its own changes follow and
// converge as after the initial snapshot. The Truncate that starts the copy
// is marked Copy, so replication records the table as copied in the same
// storage commit as its rows; a crash before that commit leaves the table
// uncopied, and the next start copies it (replication's catch-up).
func (st *streamState) copyNewTable(ctx context.Context, t *source.Table) error {
	st.s.log.Info("copying a table that appeared in the change stream", "table", t.ID)
	if err := st.h.Change(ctx, source.Change{Kind: source.Truncate, Table: t, Copy: true}); err != nil {
		return err
	}
	st.txChanges++
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

// row decodes a tuple; columns the server did not send (unchanged TOAST
// values) are listed separately and left out of the row.
func (st *streamState) row(r *relation, t *pglogrepl.TupleData) (sqlvalue.Row, []string) {
	row := make(sqlvalue.Row, len(r.cols))
	var unchanged []string
	for i, c := range t.Columns {
		if i >= len(r.cols) {
			break
		}
		col := &r.cols[i]
		switch c.DataType {
		case pglogrepl.TupleDataTypeNull:
			row[col.name] = sqlvalue.Null
		case pglogrepl.TupleDataTypeToast:
			unchanged = append(unchanged, col.name)
		default:
			row[col.name] = st.s.dec.decode(col.typ, c.Data)
		}
	}
	return row, unchanged
}

func (st *streamState) key(r *relation, row sqlvalue.Row) []byte {
	vals := st.keyBuf[:len(r.keyIdx)]
	for i, k := range r.keyIdx {
		vals[i] = row[r.cols[k].name]
	}
	return source.AppendKey(nil, vals)
}
