package jd

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/adit-pool/adit/stratum/connlimit"
	"github.com/adit-pool/adit/stratum/srvmetrics"
	"github.com/adit-pool/adit/sv2/noise"
)

// Bounded label values of the jd metrics.
const (
	resultAccepted = "accepted"

	// disconnect reasons: srvmetrics.Disconnects with DiscSetupTimeout
	// and DiscProtocolError

	// protocol error reasons
	perrDecode       = "decode"
	perrUnexpected   = "unexpected_message"
	perrNoSetup      = "no_setup_connection"
	perrDoubleSetup  = "duplicate_setup_connection"
	perrFrameTooBig  = "frame_too_large"
	perrDecrypt      = "decrypt"
	perrSetupRefused = "setup_refused"
	perrExtension    = "unknown_extension" // the frame is ignored
	perrRateLimited  = "rate_limited"

	// solution results
	solAccepted = "accepted" // a pool node has the block in its best chain
	solRejected = "rejected" // submitted, no node took it
	solError    = "error"    // the submission failed
	solNoMatch  = "no_match" // no recent declaration gives a block
)

// declareCodes are the result label values of adit_jd_declarations_total
// besides "accepted".
var declareCodes = []string{CodeInvalidMiningJobToken, CodeMissingTxs, CodeInvalidCoinbaseTx,
	CodeInvalidCoinbaseTxInput, CodeInternalError, CodeStaleChainTip, CodeInvalidJob, CodeRateLimited}

type metrics struct {
	declarations   *prometheus.CounterVec
	missingRounds  prometheus.Counter
	tipWaits       prometheus.Counter
	proposalSecs   prometheus.Histogram
	activations    *prometheus.CounterVec
	solutions      *prometheus.CounterVec
	handshakes     *prometheus.CounterVec
	protocolErrors *prometheus.CounterVec
	disconnects    *prometheus.CounterVec
	refused        *prometheus.CounterVec
	panics         prometheus.Counter
	connections    prometheus.Gauge
	tokens         prometheus.GaugeFunc
}

func newMetrics(reg prometheus.Registerer, tokens func() float64) (*metrics, error) {
	m := &metrics{
		declarations: srvmetrics.CounterVec("adit_jd_declarations_total",
			"DeclareMiningJob outcomes: accepted, or the DeclareMiningJob.Error code.", "result",
			append([]string{resultAccepted}, declareCodes...)...),
		missingRounds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_jd_missing_tx_rounds_total",
			Help: "ProvideMissingTransactions sent (one round per declaration at most).",
		}),
		tipWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_jd_tip_waits_total",
			Help: "Declarations held for the pool's chain tip (their coinbase height was past it).",
		}),
		proposalSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adit_jd_proposal_seconds",
			Help:    "Duration of block proposals (BIP23) to the pool's node, the wait for a slot included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		activations: srvmetrics.CounterVec("adit_jd_activations_total",
			"Tokens presented with SetCustomMiningJob, by result.", "result",
			resultAccepted, CodeInvalidMiningJobToken, CodeJobNotYetValidated),
		solutions: srvmetrics.CounterVec("adit_jd_solutions_total",
			"PushSolution outcomes.", "result", solAccepted, solRejected, solError, solNoMatch),
		handshakes: srvmetrics.CounterVec("adit_jd_handshakes_total",
			"Job Declaration Noise handshakes by result.", "result", noise.Results()...),
		protocolErrors: srvmetrics.CounterVec("adit_jd_protocol_errors_total",
			"Job Declaration protocol violations by reason: each drops the connection, except unknown_extension (the frame is ignored).", "reason",
			perrDecode, perrUnexpected, perrNoSetup, perrDoubleSetup, perrFrameTooBig, perrDecrypt,
			perrSetupRefused, perrExtension, perrRateLimited),
		disconnects: srvmetrics.CounterVec("adit_jd_disconnects_total",
			"Job Declaration connections closed after the handshake, by reason.", "reason",
			srvmetrics.Disconnects(srvmetrics.DiscSetupTimeout, srvmetrics.DiscProtocolError)...),
		refused: srvmetrics.CounterVec("adit_jd_refused_connections_total",
			"Job Declaration connections refused at accept, by reason.", "reason", connlimit.Reasons()...),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_jd_session_panics_total",
			Help: "Job Declaration connections dropped after a recovered panic.",
		}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_jd_connections",
			Help: "Open Job Declaration connections.",
		}),
		tokens: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "adit_jd_tokens",
			Help: "Live mining job tokens (allocated, being declared, or active).",
		}, tokens),
	}
	if err := srvmetrics.Register(reg, m.declarations, m.missingRounds, m.tipWaits, m.proposalSecs, m.activations,
		m.solutions, m.handshakes, m.protocolErrors, m.disconnects, m.refused, m.panics,
		m.connections, m.tokens); err != nil {
		return nil, fmt.Errorf("jd: %w", err)
	}
	return m, nil
}
