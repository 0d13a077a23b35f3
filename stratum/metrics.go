package stratum

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/connlimit"
	"github.com/adit-pool/adit/stratum/srvmetrics"
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

	// disconnect reasons besides srvmetrics.Disconnects
	discHandshake      = "handshake_timeout"
	discLineTooLong    = "line_too_long"
	discProtocolErrors = "protocol_errors"

	// refusal reasons: connlimit.MaxConns, connlimit.MaxPerIP, connlimit.BadRemote
)

// metrics are the server's collectors. Share counters are resolved once per
// reason so the submit path does no label lookup.
type metrics struct {
	protocolErrors *prometheus.CounterVec
	disconnects    *prometheus.CounterVec
	refused        *prometheus.CounterVec
	panics         prometheus.Counter
	shares         srvmetrics.Shares
	connections    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, shares *prometheus.CounterVec, conns prometheus.Gauge) (*metrics, error) {
	m := &metrics{
		protocolErrors: srvmetrics.CounterVec("adit_stratum_protocol_errors_total",
			"Stratum V1 requests that could not be understood, by reason.", "reason",
			perrMalformed, perrNotObject, perrNoMethod, perrBadParams, perrUnknownMethod, perrLineTooLong),
		disconnects: srvmetrics.CounterVec("adit_stratum_disconnects_total",
			"Stratum V1 connections closed, by reason.", "reason",
			srvmetrics.Disconnects(discHandshake, discLineTooLong, discProtocolErrors)...),
		refused: srvmetrics.CounterVec("adit_stratum_refused_connections_total",
			"Stratum V1 connections refused at accept, by reason.", "reason", connlimit.Reasons()...),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_stratum_session_panics_total",
			Help: "Stratum V1 sessions dropped after a recovered panic.",
		}),
		connections: srvmetrics.Connections(conns),
	}
	var err error
	if m.shares, err = srvmetrics.NewShares(shares); err != nil {
		return nil, fmt.Errorf("stratum: %w", err)
	}
	if err := srvmetrics.Register(reg, m.protocolErrors, m.disconnects, m.refused, m.panics); err != nil {
		return nil, fmt.Errorf("stratum: %w", err)
	}
	return m, nil
}

func (m *metrics) share(r share.RejectReason) { m.shares.Inc(r) }
