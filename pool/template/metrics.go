package template

import (
	"errors"

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
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered).
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
	}
	for _, r := range []string{ResultAccepted, ResultRejected, ResultError} {
		m.submitted.WithLabelValues(r)
	}
	m.jobs.WithLabelValues("true")
	m.jobs.WithLabelValues("false")
	if reg != nil {
		m.templateAge = register(reg, m.templateAge)
		m.templateErrors = register(reg, m.templateErrors)
		m.jobs = register(reg, m.jobs)
		m.submitted = register(reg, m.submitted)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
