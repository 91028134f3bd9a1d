package replication

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collectors returns the replication metrics, read from Status at scrape
// time, for the process's Prometheus registry. The names follow the
// reference service where it has the metric.
func (r *Replicator) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "powersync_rows_replicated_total",
			Help: "Source row changes (snapshot rows included) written to bucket storage.",
		}, func() float64 { return float64(r.Status().RowsReplicated) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "powersync_transactions_replicated_total",
			Help: "Storage commits of source changes (one per group of source transactions).",
		}, func() float64 { return float64(r.Status().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "powersync_replication_errors_total",
			Help: "Failed replication attempts (each is retried).",
		}, func() float64 { return float64(r.Status().Errors) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "powersync_replication_commit_lag_seconds",
			Help: "Time from the first change of the last committed group reaching replication to its storage commit.",
		}, func() float64 { return r.Status().Lag.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "powersync_replication_lease_held",
			Help: "1 while this process holds the replication lease and replicates, 0 on standby.",
		}, func() float64 {
			if r.Status().State == StateRunning {
				return 1
			}
			return 0
		}),
	}
}
