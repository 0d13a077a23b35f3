package sv2

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/connlimit"
	"github.com/adit-pool/adit/stratum/srvmetrics"
	"github.com/adit-pool/adit/sv2/noise"
)

// Bounded label values of the sv2 metrics.
const (
	// handshake results: noise.Results()

	// disconnect reasons: srvmetrics.Disconnects with DiscSetupTimeout
	// and DiscProtocolError

	// refusal reasons: connlimit.MaxConns, connlimit.MaxPerIP, connlimit.BadRemote

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
	shares         srvmetrics.Shares
	connections    prometheus.Gauge
	// customJobs is adit_jd_custom_jobs_total{result}: accepted or the
	// SetCustomMiningJob.Error code (a fixed set: sv2's and sv2/jd's).
	customJobs   *prometheus.CounterVec
	customActive prometheus.Gauge // adit_jd_custom_jobs_active
}

func newMetrics(reg prometheus.Registerer, shares *prometheus.CounterVec, conns prometheus.Gauge) (*metrics, error) {
	m := &metrics{
		handshakes: srvmetrics.CounterVec("adit_sv2_handshakes_total",
			"Stratum V2 Noise handshakes by result.", "result", noise.Results()...),
		handshakeSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adit_sv2_handshake_seconds",
			Help:    "Duration of successful Stratum V2 Noise handshakes (server side, from accept).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		channels: srvmetrics.GaugeVec("adit_sv2_channels",
			"Open Stratum V2 channels by type.", "type",
			chanStandard, chanExtended, chanGroup),
		protocolErrors: srvmetrics.CounterVec("adit_sv2_protocol_errors_total",
			"Stratum V2 protocol violations by reason: each drops the connection, except unknown_extension and ignored_extension_message (the frame is ignored).", "reason",
			perrDecode, perrUnexpected, perrNoSetup, perrDoubleSetup, perrFrameTooLarge,
			perrDecrypt, perrExtension, perrExtensionIgnored, perrSetupRefused),
		disconnects: srvmetrics.CounterVec("adit_sv2_disconnects_total",
			"Stratum V2 connections closed after the handshake, by reason.", "reason",
			srvmetrics.Disconnects(srvmetrics.DiscSetupTimeout, srvmetrics.DiscProtocolError)...),
		refused: srvmetrics.CounterVec("adit_sv2_refused_connections_total",
			"Stratum V2 connections refused at accept, by reason.", "reason", connlimit.Reasons()...),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_sv2_session_panics_total",
			Help: "Stratum V2 sessions dropped after a recovered panic.",
		}),
		connections: srvmetrics.Connections(conns),
		customJobs: srvmetrics.CounterVec("adit_jd_custom_jobs_total",
			"SetCustomMiningJob requests by result: accepted or the error code.", "result",
			resultAccepted, CodeJDNotSupported, CodeUnsupportedFeatureFlags, CodeInvalidChannelID),
		customActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_jd_custom_jobs_active",
			Help: "Extended channels mining a custom (declared) job.",
		}),
	}
	var err error
	if m.shares, err = srvmetrics.NewShares(shares); err != nil {
		return nil, fmt.Errorf("sv2: %w", err)
	}
	if err := srvmetrics.Register(reg, m.handshakes, m.handshakeSecs, m.channels, m.protocolErrors,
		m.disconnects, m.refused, m.panics, m.customJobs, m.customActive); err != nil {
		return nil, fmt.Errorf("sv2: %w", err)
	}
	return m, nil
}

func (m *metrics) share(r share.RejectReason) { m.shares.Inc(r) }
