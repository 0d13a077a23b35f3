package mempool

import "github.com/prometheus/client_golang/prometheus"

// MetricForTest returns one of m's collectors by short name.
func MetricForTest(m *Metrics, name string) prometheus.Collector {
	return map[string]prometheus.Collector{"txs": m.txs, "bytes": m.bytes, "full": m.full, "errors": m.errors}[name]
}
