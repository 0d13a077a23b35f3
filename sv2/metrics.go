package sv2

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/adit-pool/adit/share"
)

// Bounded label values of the sv2 metrics.
const (
	// handshake results
	hsOK        = "ok"
	hsTimeout   = "timeout"
	hsTruncated = "truncated"
	hsInvalid   = "invalid"
	hsShutdown  = "shutdown"
	hsError     = "error"

	// disconnect reasons
	discClientClosed  = "client_closed"
	discReadError     = "read_error"
	discIdleTimeout   = "idle_timeout"
	discSetupTimeout  = "setup_timeout"
	discSlowConsumer  = "slow_consumer"
	discWriteError    = "write_error"
	discShutdown      = "shutdown"
	discPanic         = "panic"
	discProtocolError = "protocol_error"

	// refusal reasons
	refusedMaxConns  = "max_conns"
	refusedMaxPerIP  = "max_conns_per_ip"
	refusedBadRemote = "bad_remote_addr"

	// channel types
	chanStandard = "standard"
	chanExtended = "extended"
	chanGroup    = "group"
)

type metrics struct {
	handshakes     *prometheus.CounterVec
	handshakeSecs  prometheus.Histogram
	channels       *prometheus.GaugeVec
	protocolErrors *prometheus.CounterVec
	disconnects    *prometheus.CounterVec
	refused        *prometheus.CounterVec
	panics         prometheus.Counter
	shares         []prometheus.Counter // indexed by share.RejectReason
	connections    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, shares *prometheus.CounterVec, conns prometheus.Gauge) (*metrics, error) {
	m := &metrics{
		handshakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_sv2_handshakes_total",
			Help: "Stratum V2 Noise handshakes by result.",
		}, []string{"result"}),
		handshakeSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adit_sv2_handshake_seconds",
			Help:    "Duration of successful Stratum V2 Noise handshakes (server side, from accept).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		channels: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "adit_sv2_channels",
			Help: "Open Stratum V2 channels by type.",
		}, []string{"type"}),
		protocolErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_sv2_protocol_errors_total",
			Help: "Stratum V2 connections dropped for a protocol violation, by reason.",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_sv2_disconnects_total",
			Help: "Stratum V2 connections closed after the handshake, by reason.",
		}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_sv2_refused_connections_total",
			Help: "Stratum V2 connections refused at accept, by reason.",
		}, []string{"reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_sv2_session_panics_total",
			Help: "Stratum V2 sessions dropped after a recovered panic.",
		}),
		connections: conns,
	}
	for _, r := range []string{hsOK, hsTimeout, hsTruncated, hsInvalid, hsShutdown, hsError} {
		m.handshakes.WithLabelValues(r)
	}
	for _, r := range []string{chanStandard, chanExtended, chanGroup} {
		m.channels.WithLabelValues(r)
	}
	for _, r := range []string{perrDecode, perrUnexpected, perrNoSetup, perrDoubleSetup, perrFrameTooLarge,
		perrDecrypt, perrExtension, perrSetupRefused} {
		m.protocolErrors.WithLabelValues(r)
	}
	for _, r := range []string{discClientClosed, discReadError, discIdleTimeout, discSetupTimeout,
		discSlowConsumer, discWriteError, discShutdown, discPanic, discProtocolError} {
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
			return nil, fmt.Errorf("sv2: shares counter must have exactly the label \"result\": %w", err)
		}
		m.shares = append(m.shares, c)
	}
	if m.connections == nil {
		m.connections = prometheus.NewGauge(prometheus.GaugeOpts{Name: "adit_connections", Help: "unregistered fallback"})
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.handshakes, m.handshakeSecs, m.channels, m.protocolErrors,
			m.disconnects, m.refused, m.panics} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("sv2: register metrics: %w", err)
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
