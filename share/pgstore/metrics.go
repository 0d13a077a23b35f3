package pgstore

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the shipper's Prometheus metrics.
type Metrics struct {
	// BatchSeconds is adit_share_ship_batch_seconds: duration of each
	// shipped batch's transaction (COPY, workers upsert, position, commit).
	BatchSeconds prometheus.Histogram
	// BatchRecords is adit_share_ship_batch_records: records per batch.
	BatchRecords prometheus.Histogram
	// Shipped is adit_shares_shipped_total: records committed to Postgres.
	Shipped prometheus.Counter
	// Errors is adit_share_ship_errors_total: failed ship attempts and
	// partition maintenance runs.
	Errors prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered). It panics if they are already registered with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adit_share_ship_batch_seconds",
			Help:    "Duration of one share batch transaction into Postgres.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		BatchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adit_share_ship_batch_records",
			Help:    "Share records per shipped batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		Shipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_shares_shipped_total",
			Help: "Share records committed to Postgres.",
		}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_share_ship_errors_total",
			Help: "Failed share ship attempts and partition maintenance runs.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.BatchSeconds, m.BatchRecords, m.Shipped, m.Errors)
	}
	return m
}
