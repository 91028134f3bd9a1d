package server

import (
	"net/http"
	"sync"

	"github.com/powersync-go/powersync/internal/storage"
	"github.com/powersync-go/powersync/protocol"
)

// wcRegistry lets the write checkpoint endpoints wake the sync connections of
// the same user and client in this process. A connection registers its key
// while it streams; a new write checkpoint closes the key's wake channel so
// the connection re-reads its write checkpoint at once. Connections of other
// keys are not touched, and no connection polls for write checkpoints.
type wcRegistry struct {
	mu sync.Mutex // guards m and every entry's fields
	m  map[wcKey]*wcEntry
}

type wcKey struct{ user, client string }

type wcEntry struct {
	refs    int
	created int64 // greatest value created through this process
	wake    chan struct{}
}

func newWCRegistry() *wcRegistry { return &wcRegistry{m: make(map[wcKey]*wcEntry)} }

// register records that a connection of k is streaming, so that new write
// checkpoints of k wake it (see state and notify).
func (r *wcRegistry) register(k wcKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[k]
	if e == nil {
		e = &wcEntry{wake: make(chan struct{})}
		r.m[k] = e
	}
	e.refs++
}

func (r *wcRegistry) unregister(k wcKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.m[k]; e != nil {
		e.refs--
		if e.refs <= 0 {
			delete(r.m, k)
		}
	}
}

// state returns the wake channel of k and the greatest value created here.
func (r *wcRegistry) state(k wcKey) (<-chan struct{}, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[k]
	if e == nil {
		return nil, 0
	}
	return e.wake, e.created
}

// created records a new value for k and wakes its connections.
func (r *wcRegistry) notify(k wcKey, v int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.m[k]
	if e == nil {
		return
	}
	if v > e.created {
		e.created = v
	}
	close(e.wake)
	e.wake = make(chan struct{})
}

// head returns the source position a new write checkpoint must be covered by.
func (s *Server) head(r *http.Request) (storage.Position, error) {
	if s.opts.Head != nil {
		p, err := s.opts.Head(r.Context())
		if err == nil {
			s.metrics.sawHead(p)
		}
		return p, err
	}
	if n := s.bc.current(); n != nil {
		return n.cp.Position, nil
	}
	return 0, nil
}

// handleWriteCheckpoint serves GET /write-checkpoint2.json?client_id=…: a new
// per user and client counter value, reported in the checkpoints of this
// user's streams once replication has passed the source head of now.
func (s *Server) handleWriteCheckpoint(w http.ResponseWriter, r *http.Request) {
	id, err := s.authenticate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	client := r.URL.Query().Get("client_id")
	head, err := s.head(r)
	if err != nil {
		s.log.Error("source head for write checkpoint", "error", err)
		writeError(w, errInternal)
		return
	}
	v, err := s.opts.Storage.WriteCheckpoints().Create(r.Context(), id.UserID, client, head)
	if err != nil {
		s.log.Error("create write checkpoint", "error", err)
		writeError(w, errInternal)
		return
	}
	s.wc.notify(wcKey{id.UserID, client}, v)
	writeData(w, map[string]protocol.OpID{"write_checkpoint": protocol.OpID(v)})
}

// handleCheckpointRequest serves POST /sync/checkpoint-request.
func (s *Server) handleCheckpointRequest(w http.ResponseWriter, r *http.Request) {
	var req protocol.CheckpointRequest
	if err := decodeJSONBody(r, s.opts.MaxRequestBytes, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.CheckpointRequestID < 1 {
		writeError(w, validationError("checkpoint_request_id must be a positive 64-bit integer, got %d", req.CheckpointRequestID))
		return
	}
	id, err := s.authenticate(r)
	if err != nil {
		writeError(w, err)
		return
	}
	head, err := s.head(r)
	if err != nil {
		s.log.Error("source head for checkpoint request", "error", err)
		writeError(w, errInternal)
		return
	}
	v, err := s.opts.Storage.WriteCheckpoints().Request(r.Context(), id.UserID, req.ClientID, int64(req.CheckpointRequestID), head)
	if err != nil {
		s.log.Error("record checkpoint request", "error", err)
		writeError(w, errInternal)
		return
	}
	s.wc.notify(wcKey{id.UserID, req.ClientID}, v)
	writeData(w, map[string]protocol.OpID{"checkpoint_request_id": protocol.OpID(v)})
}
