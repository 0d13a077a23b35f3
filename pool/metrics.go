package pool

import (
	"github.com/adit-pool/adit/share"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the pool-wide series shared by both protocols.
type metrics struct {
	connections   *prometheus.GaugeVec   // adit_connections{protocol}
	shares        *prometheus.CounterVec // adit_shares_total{protocol,result}
	jobBroadcast  prometheus.Histogram   // adit_job_broadcast_seconds
	jobsPublished *prometheus.CounterVec // adit_jobs_published_total{clean}
	acceptErrors  prometheus.Counter     // adit_share_accept_errors_total
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "adit_connections", Help: "Open miner connections by protocol.",
		}, []string{"protocol"}),
		shares: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_shares_total", Help: "Shares by protocol and result (accepted or the reject reason).",
		}, []string{"protocol", "result"}),
		jobBroadcast: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "adit_job_broadcast_seconds", Help: "Time to hand a new job to every session.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}),
		jobsPublished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_jobs_published_total", Help: "Jobs published, by whether they were clean (new tip).",
		}, []string{"clean"}),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_share_accept_errors_total", Help: "Valid shares refused because they could not be recorded.",
		}),
	}
	reg.MustRegister(m.connections, m.shares, m.jobBroadcast, m.jobsPublished, m.acceptErrors)
	for _, p := range []share.Protocol{share.ProtocolV1, share.ProtocolV2} {
		m.connections.WithLabelValues(p.String())
		for _, r := range share.AllReasons() {
			m.shares.WithLabelValues(p.String(), r.String())
		}
	}
	return m
}
