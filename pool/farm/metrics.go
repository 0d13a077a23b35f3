package farm

import (
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/srvmetrics"
	sv2client "github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/jd"
)

type metrics struct {
	downstream  *prometheus.CounterVec // the downstream servers' shares, by protocol and result
	connections *prometheus.GaugeVec   // by protocol
	broadcast   prometheus.Histogram
	forwarded   prometheus.Counter
	results     *prometheus.CounterVec
	declaredVec *prometheus.CounterVec
	jobs        prometheus.Counter
	blocks      prometheus.Counter
	mode        *prometheus.GaugeVec
	switches    *prometheus.CounterVec
}

// Label values of adit_proxy_upstream_shares_total and
// adit_proxy_declared_jobs_total.
const (
	resultAccepted = "accepted"
	resultRejected = "rejected"
	resultOther    = "other" // a refusal code the JD protocol does not define
)

// refusalCodes are the DeclareMiningJob and SetCustomMiningJob error
// codes: the label values of adit_proxy_declared_jobs_total besides
// accepted and other (the pool's codes are not trusted to be bounded).
var refusalCodes = []string{jd.CodeInvalidMiningJobToken, jd.CodeMissingTxs, jd.CodeInvalidCoinbaseTx,
	jd.CodeInvalidCoinbaseTxInput, jd.CodeInternalError, jd.CodeStaleChainTip, jd.CodeInvalidJob, jd.CodeRateLimited,
	jd.CodeJobNotYetValidated, jd.CodeInvalidNBits, jd.CodeInvalidVersion, jd.CodeInvalidCoinbaseTxVersion,
	jd.CodeInvalidCoinbasePrefix, jd.CodeInvalidCoinbaseTxInputNSequence, jd.CodeInvalidCoinbaseTxOutputs,
	jd.CodeInvalidCoinbaseTxLocktime, jd.CodeInvalidMerklePath, "invalid-channel-id"}

func newMetrics(reg prometheus.Registerer, modes []string) (*metrics, error) {
	var reasons []string
	for _, r := range share.AllReasons() {
		reasons = append(reasons, r.String())
	}
	m := &metrics{
		// (downstream: every protocol × reason is created below.)
		downstream: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "adit_proxy_downstream_shares_total",
			Help: "Shares from the farm's miners, by protocol and result (validated locally)."}, []string{"protocol", "result"}),
		connections: srvmetrics.GaugeVec("adit_proxy_downstream_connections",
			"Open downstream connections, by protocol.", "protocol", share.ProtocolV1.String(), share.ProtocolV2.String()),
		broadcast: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "adit_proxy_job_broadcast_seconds",
			Help: "Time to hand a new job to every downstream session.", Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10)}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{Name: "adit_proxy_forwarded_shares_total",
			Help: "Downstream shares that met the upstream channel's target, sent to the pool."}),
		results: srvmetrics.CounterVec("adit_proxy_upstream_shares_total",
			"The pool's answers to forwarded shares: accepted (acknowledged) or rejected.", "result", resultAccepted, resultRejected),
		declaredVec: srvmetrics.CounterVec("adit_proxy_declared_jobs_total",
			"Declared jobs: accepted (the pool took the declaration and the custom job), or the refusal code.", "result",
			append([]string{resultAccepted, resultOther}, refusalCodes...)...),
		jobs: prometheus.NewCounter(prometheus.CounterOpts{Name: "adit_proxy_jobs_total",
			Help: "Jobs handed to the downstream miners."}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{Name: "adit_proxy_blocks_found_total",
			Help: "Blocks found by the farm's miners."}),
		mode: srvmetrics.GaugeVec("adit_proxy_mode",
			"1 for the running mode (jd, pool, solo, backup), 0 for the others; all 0 while none works.", "mode", modes...),
		switches: srvmetrics.CounterVec("adit_proxy_mode_switches_total",
			"Switches into each mode (fallbacks and returns).", "mode", modes...),
	}
	for _, p := range []share.Protocol{share.ProtocolV1, share.ProtocolV2} {
		for _, r := range reasons {
			m.downstream.WithLabelValues(p.String(), r)
		}
	}
	if reg != nil {
		if err := srvmetrics.Register(reg, m.downstream, m.connections, m.broadcast, m.forwarded, m.results,
			m.declaredVec, m.jobs, m.blocks, m.mode, m.switches); err != nil {
			return nil, fmt.Errorf("farm: %w", err)
		}
	}
	return m, nil
}

// declared counts a declaration's outcome ("" accepted).
func (m *metrics) declared(code string) {
	switch {
	case code == "":
		code = resultAccepted
	case !slices.Contains(refusalCodes, code):
		code = resultOther
	}
	m.declaredVec.WithLabelValues(code).Inc()
}

// setMode moves the mode gauge from old to mode ("" none) and counts the
// switch.
func (m *metrics) setMode(old, mode string) {
	if old != "" {
		m.mode.WithLabelValues(old).Set(0)
	}
	if mode != "" {
		m.mode.WithLabelValues(mode).Set(1)
		m.switches.WithLabelValues(mode).Inc()
	}
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
