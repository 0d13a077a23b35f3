package farm

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/srvmetrics"
	sv2client "github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/jdclient"
)

type metrics struct {
	downstream  *prometheus.CounterVec // the V1 server's shares, by result
	connections prometheus.Gauge
	broadcast   prometheus.Histogram
	forwarded   prometheus.Counter
	results     *prometheus.CounterVec
	declaredVec *prometheus.CounterVec
	jobs        prometheus.Counter
	blocks      prometheus.Counter
	upstream    prometheus.Gauge
}

// Label values of adit_proxy_upstream_shares_total.
const (
	resultAccepted = "accepted"
	resultRejected = "rejected"
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var reasons []string
	for _, r := range share.AllReasons() {
		reasons = append(reasons, r.String())
	}
	m := &metrics{
		downstream: srvmetrics.CounterVec("adit_proxy_downstream_shares_total",
			"Shares from the farm's miners, by result (validated locally).", "result", reasons...),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "adit_proxy_downstream_connections",
			Help: "Open downstream Stratum V1 connections."}),
		broadcast: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "adit_proxy_job_broadcast_seconds",
			Help: "Time to hand a new job to every downstream session.", Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10)}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "adit_proxy_forwarded_shares_total",
			Help: "Downstream shares that met the upstream channel's target, sent to the pool."}),
		results: srvmetrics.CounterVec("adit_proxy_upstream_shares_total",
			"The pool's answers to forwarded shares: accepted (acknowledged) or rejected.", "result", resultAccepted, resultRejected),
		declaredVec: srvmetrics.CounterVec("adit_proxy_declared_jobs_total",
			"Declared jobs: accepted (the pool took the declaration and the custom job), or the refusal code.", "result",
			resultAccepted, jdclient.CodeStaleChainTip),
		jobs: prometheus.NewCounter(prometheus.CounterOpts{Name: "adit_proxy_jobs_total",
			Help: "Jobs handed to the downstream miners."}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Name: "adit_proxy_blocks_found_total",
			Help: "Blocks found by the farm's miners."}),
		upstream: prometheus.NewGauge(prometheus.GaugeOpts{Name: "adit_proxy_upstream_up",
			Help: "1 while a pool session with Job Declaration is up."}),
	}
	if reg != nil {
		if err := srvmetrics.Register(reg, m.downstream, m.connections, m.broadcast, m.forwarded, m.results,
			m.declaredVec, m.jobs, m.blocks, m.upstream); err != nil {
			return nil, fmt.Errorf("farm: %w", err)
		}
	}
	return m, nil
}

// declared counts a declaration's outcome ("" accepted).
func (m *metrics) declared(code string) {
	if code == "" {
		code = resultAccepted
	}
	m.declaredVec.WithLabelValues(code).Inc()
}

// result counts the pool's answer to forwarded shares.
func (m *metrics) result(r sv2client.Result) {
	switch {
	case r.Code != "":
		m.results.WithLabelValues(resultRejected).Inc()
	case r.Accepted > 0:
		m.results.WithLabelValues(resultAccepted).Add(float64(r.Accepted))
	}
}
