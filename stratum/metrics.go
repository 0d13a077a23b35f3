package stratum

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/adit-pool/adit/share"
)

// Bounded label values of the stratum metrics.
const (
	// protocol error reasons
	perrMalformed     = "malformed_json"
	perrNotObject     = "not_object"
	perrNoMethod      = "no_method"
	perrBadParams     = "bad_params"
	perrUnknownMethod = "unknown_method"
	perrLineTooLong   = "line_too_long"

	// disconnect reasons
	discClientClosed   = "client_closed"
	discReadError      = "read_error"
	discIdleTimeout    = "idle_timeout"
	discHandshake      = "handshake_timeout"
	discLineTooLong    = "line_too_long"
	discSlowConsumer   = "slow_consumer"
	discWriteError     = "write_error"
	discShutdown       = "shutdown"
	discPanic          = "panic"
	discProtocolErrors = "protocol_errors"

	// refusal reasons
	refusedMaxConns  = "max_conns"
	refusedMaxPerIP  = "max_conns_per_ip"
	refusedBadRemote = "bad_remote_addr"
)

// metrics are the server's collectors. Share counters are resolved once per
// reason so the submit path does no label lookup.
type metrics struct {
	protocolErrors *prometheus.CounterVec
	disconnects    *prometheus.CounterVec
	refused        *prometheus.CounterVec
	panics         prometheus.Counter
	shares         []prometheus.Counter // indexed by share.RejectReason
	connections    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, shares *prometheus.CounterVec, conns prometheus.Gauge) (*metrics, error) {
	m := &metrics{
		protocolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_stratum_protocol_errors_total",
			Help: "Stratum V1 requests that could not be understood, by reason.",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_stratum_disconnects_total",
			Help: "Stratum V1 connections closed, by reason.",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_stratum_refused_connections_total",
			Help: "Stratum V1 connections refused at accept, by reason.",
		}, []string{"reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_stratum_session_panics_total",
			Help: "Stratum V1 sessions dropped after a recovered panic.",
		}),
		connections: conns,
	}
	for _, r := range []string{perrMalformed, perrNotObject, perrNoMethod, perrBadParams, perrUnknownMethod, perrLineTooLong} {
		m.protocolErrors.WithLabelValues(r)
	}
	for _, r := range []string{discClientClosed, discReadError, discIdleTimeout, discHandshake, discLineTooLong,
		discSlowConsumer, discWriteError, discShutdown, discPanic, discProtocolErrors} {
		m.disconnects.WithLabelValues(r)
	}
	for _, r := range []string{refusedMaxConns, refusedMaxPerIP, refusedBadRemote} {
		m.refused.WithLabelValues(r)
	}
	if shares == nil {
		shares = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_shares_total", Help: "Shares by result (unregistered fallback).",
		}, []string{"result"})
	}
	for _, r := range share.AllReasons() {
		c, err := shares.GetMetricWithLabelValues(r.String())
		if err != nil {
			return nil, fmt.Errorf("stratum: shares counter must have exactly the label \"result\": %w", err)
		}
		m.shares = append(m.shares, c)
	}
	if m.connections == nil {
		m.connections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "adit_connections", Help: "unregistered fallback"})
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.protocolErrors, m.disconnects, m.refused, m.panics} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("stratum: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) share(r share.RejectReason) {
	if int(r) < len(m.shares) {
		m.shares[r].Inc()
	}
}
