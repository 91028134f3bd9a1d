package pebble

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/powersync-go/powersync/internal/storage"
)

type settings struct{ s *Storage }

// Get returns a setting's value or storage.ErrNotFound.
func (st settings) Get(ctx context.Context, key string) ([]byte, error) {
	done, err := st.s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	v, closer, err := st.s.db.Get(settingKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("setting %q: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read setting %q: %w", key, err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), nil
}

// Put stores a setting durably.
func (st settings) Put(ctx context.Context, key string, value []byte) error {
	done, err := st.s.enter()
	if err != nil {
		return err
	}
	defer done()
	if err := st.s.db.Set(settingKey(key), value, pebble.Sync); err != nil {
		return fmt.Errorf("write setting %q: %w", key, err)
	}
	return nil
}

// writeCheckpoints keeps, per (user, client), one key per recorded value
// holding the source position it was recorded at. Values only grow, so the
// answer for a position is the first entry, newest first, recorded at or
// before it.
type writeCheckpoints struct{ s *Storage }

func (w writeCheckpoints) latest(prefix []byte) (int64, error) {
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	return int64(tailU64(it.Key())), nil
}

func (w writeCheckpoints) record(user, client string, value int64, head storage.Position) error {
	k := appendU64(writeCpPrefix(user, client), uint64(value))
	return w.s.db.Set(k, appendU64(nil, uint64(head)), pebble.Sync)
}

// lock takes the write-checkpoint lock (for a read-modify-write of a
// counter) and enters the storage; done leaves and unlocks.
func (w writeCheckpoints) lock() (done func(), err error) {
	w.s.wcMu.Lock()
	leave, err := w.s.enter()
	if err != nil {
		w.s.wcMu.Unlock()
		return nil, err
	}
	return func() {
		leave()
		w.s.wcMu.Unlock()
	}, nil
}

// Create increments the counter of (user, client) and records it at head.
func (w writeCheckpoints) Create(ctx context.Context, user, client string, head storage.Position) (int64, error) {
	done, err := w.lock()
	if err != nil {
		return 0, err
	}
	defer done()
	cur, err := w.latest(writeCpPrefix(user, client))
	if err != nil {
		return 0, fmt.Errorf("create write checkpoint: %w", err)
	}
	if err := w.record(user, client, cur+1, head); err != nil {
		return 0, fmt.Errorf("create write checkpoint: %w", err)
	}
	return cur + 1, nil
}

// Request records id at head when it exceeds the current value and returns
// the maximum of both.
func (w writeCheckpoints) Request(ctx context.Context, user, client string, id int64, head storage.Position) (int64, error) {
	done, err := w.lock()
	if err != nil {
		return 0, err
	}
	defer done()
	if id < 0 {
		return 0, fmt.Errorf("checkpoint request id %d is negative", id)
	}
	cur, err := w.latest(writeCpPrefix(user, client))
	if err != nil {
		return 0, fmt.Errorf("record checkpoint request: %w", err)
	}
	if id <= cur {
		return cur, nil
	}
	if err := w.record(user, client, id, head); err != nil {
		return 0, fmt.Errorf("record checkpoint request: %w", err)
	}
	return id, nil
}

// At returns the greatest value of (user, client) recorded at a position
// ≤ pos.
func (w writeCheckpoints) At(ctx context.Context, user, client string, pos storage.Position) (int64, bool, error) {
	done, err := w.s.enter()
	if err != nil {
		return 0, false, err
	}
	defer done()
	p := writeCpPrefix(user, client)
	it, err := w.s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, false, err
	}
	defer it.Close()
	for ok := it.Last(); ok; ok = it.Prev() {
		v := it.Value()
		if len(v) != 8 {
			return 0, false, errCorrupt
		}
		if storage.Position(binary.BigEndian.Uint64(v)) <= pos {
			return int64(tailU64(it.Key())), true, nil
		}
	}
	return 0, false, it.Error()
}

// leaseRecord is the stored replication lease.
type leaseRecord struct {
	Holder  string    `json:"holder"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

type lease struct {
	s     *Storage
	token string
	ttl   time.Duration
}

func (s *Storage) readLease() (*leaseRecord, error) {
	v, closer, err := s.db.Get(leaseKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	var r leaseRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("lease record: %w", err)
	}
	return &r, nil
}

func (s *Storage) writeLease(r leaseRecord) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.db.Set(leaseKey, data, pebble.Sync)
}

// AcquireLease takes the replication lease unless another holder has a
// lease that has not expired. The same holder name takes its own lease
// over (a restarted process).
func (s *Storage) AcquireLease(ctx context.Context, holder string, ttl time.Duration) (storage.Lease, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("acquire lease: ttl %v is not positive", ttl)
	}
	var l *lease
	err := s.withLease("acquire lease", func(cur *leaseRecord) error {
		now := s.now()
		if cur != nil && cur.Holder != holder && now.Before(cur.Expires) {
			return fmt.Errorf("%w (holder %q until %s)", storage.ErrLeaseHeld, cur.Holder, cur.Expires.UTC().Format(time.RFC3339))
		}
		var tok [16]byte
		if _, err := rand.Read(tok[:]); err != nil {
			return err
		}
		r := leaseRecord{Holder: holder, Token: hex.EncodeToString(tok[:]), Expires: now.Add(ttl)}
		if err := s.writeLease(r); err != nil {
			return fmt.Errorf("acquire lease: %w", err)
		}
		l = &lease{s: s, token: r.Token, ttl: ttl}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// withLease runs fn with the stored lease record (nil when there is none)
// under the lease lock, with the storage entered; op prefixes a read error.
func (s *Storage) withLease(op string, fn func(cur *leaseRecord) error) error {
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	cur, err := s.readLease()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fn(cur)
}

// Renew extends the lease by its TTL; it fails with storage.ErrLeaseHeld
// when another holder took it over.
func (l *lease) Renew(ctx context.Context) error {
	return l.s.withLease("renew lease", func(cur *leaseRecord) error {
		if cur == nil || cur.Token != l.token {
			return fmt.Errorf("renew lease: %w", storage.ErrLeaseHeld)
		}
		cur.Expires = l.s.now().Add(l.ttl)
		if err := l.s.writeLease(*cur); err != nil {
			return fmt.Errorf("renew lease: %w", err)
		}
		return nil
	})
}

// Release gives the lease up if it is still held.
func (l *lease) Release(ctx context.Context) error {
	return l.s.withLease("release lease", func(cur *leaseRecord) error {
		if cur == nil || cur.Token != l.token {
			return nil
		}
		if err := l.s.db.Delete(leaseKey, pebble.Sync); err != nil {
			return fmt.Errorf("release lease: %w", err)
		}
		return nil
	})
}

// pruneWriteCheckpoints deletes, per (user, client), every entry older than
// the newest one recorded at or before pos (the active checkpoint's
// position): At for pos or any later position never returns them.
func (s *Storage) pruneWriteCheckpoints(ctx context.Context, pos storage.Position) (int, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: []byte{spaceWriteCp}, UpperBound: []byte{spaceWriteCp + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	wb := s.db.NewBatch()
	defer wb.Close()
	var group, keep []byte
	pruned, older, n := 0, 0, 0
	flush := func() error {
		if keep != nil && older > 0 {
			pruned += older
			return wb.DeleteRange(group, keep, nil)
		}
		return nil
	}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < 9 {
			return pruned, errCorrupt
		}
		g := k[:len(k)-8]
		if !bytes.Equal(g, group) {
			if err := flush(); err != nil {
				return pruned, err
			}
			group, keep, older, n = bytes.Clone(g), nil, 0, 0
		}
		v := it.Value()
		if len(v) != 8 {
			return pruned, errCorrupt
		}
		if storage.Position(binary.BigEndian.Uint64(v)) <= pos {
			keep, older = bytes.Clone(k), n
		}
		n++
	}
	if err := it.Error(); err != nil {
		return pruned, err
	}
	if err := flush(); err != nil {
		return pruned, err
	}
	if pruned == 0 {
		return 0, nil
	}
	return pruned, wb.Commit(pebble.NoSync)
}
