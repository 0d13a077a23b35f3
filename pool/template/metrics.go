package template

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Submission results, the `result` label of adit_blocks_submitted_total.
const (
	ResultAccepted = "accepted"
	ResultRejected = "rejected"
	ResultError    = "error"
)

// Metrics are the template source and block submission metrics. One set is
// shared by the Source and the Submitter of a process.
type Metrics struct {
	templateAge    prometheus.Gauge
	templateErrors prometheus.Counter
	jobs           *prometheus.CounterVec
	submitted      *prometheus.CounterVec
	// The Source's view of each node (label node: the configured name),
	// from its best-block poll.
	nodeUp    *prometheus.GaugeVec // adit_node_up
	tipHeight *prometheus.GaugeVec // adit_node_tip_height
	tipTime   *prometheus.GaugeVec // adit_node_tip_timestamp_seconds
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered). Call it once per registry: a second registration panics,
// like any duplicate Prometheus collector.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		templateAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_template_age_seconds",
			Help: "Age of the block template behind the newest job.",
		}),
		templateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_template_errors_total",
			Help: "Template fetches or job builds that failed.",
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_template_jobs_total",
			Help: "Jobs built from templates, by whether they start a new tip.",
		}, []string{"clean"}),
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_blocks_submitted_total",
			Help: "Solved blocks submitted to the nodes, by outcome.",
		}, []string{"result"}),
		nodeUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "adit_node_up",
			Help: "1 when the node answered the last best-block poll, 0 when it did not (or has not yet).",
		}, []string{"node"}),
		tipHeight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "adit_node_tip_height",
			Help: "Height of the node's best block, as last polled.",
		}, []string{"node"}),
		tipTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "adit_node_tip_timestamp_seconds",
			Help: "Header timestamp (Unix seconds) of the node's best block, as last polled.",
		}, []string{"node"}),
	}
	for _, r := range []string{ResultAccepted, ResultRejected, ResultError} {
		m.submitted.WithLabelValues(r)
	}
	m.jobs.WithLabelValues("true")
	m.jobs.WithLabelValues("false")
	if reg != nil {
		reg.MustRegister(m.templateAge, m.templateErrors, m.jobs, m.submitted, m.nodeUp, m.tipHeight, m.tipTime)
	}
	return m
}
