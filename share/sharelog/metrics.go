package sharelog

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the share log's Prometheus metrics. Create them once per
// process with NewMetrics and share them between Logs.
type Metrics struct {
	// Lag is adit_sharelog_lag_records: records durable in the log but not
	// yet reported shipped (MarkShipped).
	Lag prometheus.Gauge
	// Fsync is adit_sharelog_fsync_seconds: duration of each fsync.
	Fsync prometheus.Histogram
	// GroupRecords is adit_sharelog_group_records: records per group commit.
	GroupRecords prometheus.Histogram
	// Appended is adit_sharelog_appended_total: records made durable.
	Appended prometheus.Counter
	// Bytes is adit_sharelog_written_bytes_total: bytes written to segments.
	Bytes prometheus.Counter
	// Rejected is adit_sharelog_rejected_total{reason}: appends refused;
	// reason is disk_full, io_error, closed or invalid.
	Rejected *prometheus.CounterVec
	// TornTail is adit_sharelog_torn_tail_total: torn or corrupt tails cut
	// off at open.
	TornTail prometheus.Counter
	// SegmentsDeleted is adit_sharelog_segments_deleted_total.
	SegmentsDeleted prometheus.Counter
}

// Rejection reasons (the bounded label set of adit_sharelog_rejected_total).
const (
	reasonDiskFull = "disk_full"
	reasonIO       = "io_error"
	reasonClosed   = "closed"
	reasonInvalid  = "invalid"
)

// NewMetrics creates the metrics and registers them with reg (nil: not
// registered). It panics if they are already registered with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_sharelog_lag_records",
			Help: "Share records durable in the local log but not yet shipped to Postgres.",
		}),
		Fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adit_sharelog_fsync_seconds",
			Help:    "Duration of share log fsyncs.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 16),
		}),
		GroupRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adit_sharelog_group_records",
			Help:    "Records written per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		Appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_sharelog_appended_total",
			Help: "Share records made durable in the local log.",
		}),
		Bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_sharelog_written_bytes_total",
			Help: "Bytes written to share log segments.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_sharelog_rejected_total",
			Help: "Share appends refused, by reason (disk_full, io_error, closed, invalid).",
		}, []string{"reason"}),
		TornTail: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_sharelog_torn_tail_total",
			Help: "Torn or corrupt share log tails cut off when the log was opened.",
		}),
		SegmentsDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_sharelog_segments_deleted_total",
			Help: "Shipped share log segments deleted after retention.",
		}),
	}
	for _, r := range []string{reasonDiskFull, reasonIO, reasonClosed, reasonInvalid} {
		m.Rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.Lag, m.Fsync, m.GroupRecords, m.Appended, m.Bytes, m.Rejected, m.TornTail, m.SegmentsDeleted)
	}
	return m
}
