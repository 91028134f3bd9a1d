package server

import (
	"encoding/json"
	"net/http"
	"time"
)

// cors allows browser clients on any origin, as the reference does.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Expose-Headers", "Content-Type")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, User-Agent, X-User-Agent")
			h.Set("Access-Control-Max-Age", "3600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type probeKind int

const (
	probeStartup probeKind = iota
	probeLiveness
	probeReadiness
)

// probeBody is the body of the probe endpoints (not wrapped in "data").
type probeBody struct {
	Ready     bool   `json:"ready"`
	Started   bool   `json:"started"`
	TouchedAt string `json:"touched_at"`
}

// handleProbe serves the Kubernetes-style probes: 200 when the condition
// holds, 400 otherwise.
func (s *Server) handleProbe(kind probeKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		started := s.startedAt.Load() != nil && !s.closing.Load()
		ready := started && s.bc.current() != nil
		live := started && (s.opts.Live == nil || s.opts.Live())
		ok := map[probeKind]bool{probeStartup: started, probeLiveness: live, probeReadiness: ready}[kind]
		body := probeBody{Ready: ready, Started: started, TouchedAt: time.Now().UTC().Format(time.RFC3339Nano)}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
		}
		_ = json.NewEncoder(w).Encode(body)
	}
}
