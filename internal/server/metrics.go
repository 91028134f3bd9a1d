package server

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/powersync-go/powersync/internal/storage"
)

// Metrics are the API's Prometheus metrics, in their own registry (no
// global state). Other components may register their collectors in
// Registry so that /metrics serves everything.
type Metrics struct {
	Registry *prometheus.Registry

	connections      prometheus.Gauge
	connectionsTotal prometheus.Counter
	rejected         *prometheus.CounterVec
	opsSent          prometheus.Counter
	bytesSent        prometheus.Counter
	checkpoints      prometheus.Counter
	checkpointLines  *prometheus.CounterVec

	lastCP atomic.Pointer[storage.Checkpoint]
	// head is the newest source position the server read (for write
	// checkpoints and diagnostics); the lag gauge compares it with the
	// newest checkpoint instead of asking the source on every scrape
	// (for some sources reading the head writes a marker).
	head atomic.Uint64
}

// NewMetrics creates the API's metrics with Go and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "powersync_sync_connections", Help: "Sync streams currently open."}),
		connectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "powersync_sync_connections_total", Help: "Sync streams opened."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "powersync_sync_rejected_total", Help: "Sync requests rejected, by reason."}, []string{"reason"}),
		opsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "powersync_sync_operations_sent_total", Help: "Operations sent to clients."}),
		bytesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "powersync_sync_bytes_sent_total", Help: "Bytes of sync lines sent to clients (before compression)."}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "powersync_checkpoints_total", Help: "Storage checkpoints seen by the broadcaster."}),
		checkpointLines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "powersync_sync_checkpoint_lines_total", Help: "Checkpoint lines sent to clients, by type."}, []string{"type"}),
	}
	m.Registry.MustRegister(m.connections, m.connectionsTotal, m.rejected, m.opsSent, m.bytesSent,
		m.checkpoints, m.checkpointLines,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// bind registers the gauges that read the server's state.
func (m *Metrics) bind(s *Server) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "powersync_replication_checkpoint_op_id", Help: "Op id of the newest checkpoint."},
			func() float64 {
				if cp := m.lastCP.Load(); cp != nil {
					return float64(cp.OpID)
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "powersync_replication_lag_seconds",
			Help: "How long the newest source position the API read (for write checkpoints) has been ahead of the newest checkpoint (0 when caught up); scrapes do not read the source."},
			func() float64 { return m.lagSeconds() }),
	)
}

func (m *Metrics) lagSeconds() float64 {
	cp := m.lastCP.Load()
	if cp == nil || cp.Time.IsZero() || storage.Position(m.head.Load()) <= cp.Position {
		return 0
	}
	return time.Since(cp.Time).Seconds()
}

// sawHead records a source position read by the server.
func (m *Metrics) sawHead(p storage.Position) {
	for {
		old := m.head.Load()
		if uint64(p) <= old || m.head.CompareAndSwap(old, uint64(p)) {
			return
		}
	}
}

func (m *Metrics) checkpoint(cp storage.Checkpoint) {
	m.checkpoints.Inc()
	m.lastCP.Store(&cp)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
