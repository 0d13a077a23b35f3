package payout

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Block statuses, as stored in blocks.status and used as the adit_blocks
// label.
const (
	StatusFound     = "found"
	StatusSubmitted = "submitted"
	StatusAccepted  = "accepted"
	StatusRejected  = "rejected"
	StatusOrphaned  = "orphaned"
	StatusMature    = "mature"
)

var blockStatuses = []string{StatusFound, StatusSubmitted, StatusAccepted, StatusRejected, StatusOrphaned, StatusMature}

// Payout statuses (payouts.status); the adit_payouts_total label also counts
// "broadcast_error" events and PayoutUnconfirmed (a confirmed payout's block
// left the best chain; the payout is back to broadcast).
const (
	PayoutPending     = "pending"
	PayoutBroadcast   = "broadcast"
	PayoutConfirmed   = "confirmed"
	PayoutUnconfirmed = "unconfirmed"
)

// Metrics are the payout metrics (names fixed by the operator dashboards).
// One Metrics is shared by a process's Tracker and Payer.
type Metrics struct {
	blocks       *prometheus.GaugeVec
	payouts      *prometheus.CounterVec
	payoutSats   prometheus.Counter
	balances     prometheus.Gauge
	windowShares prometheus.Gauge
	openBlocks   prometheus.Gauge // adit_payout_oldest_unconfirmed_blocks
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered). Call it once per registry: a second registration panics,
// like any duplicate Prometheus collector.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		blocks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "adit_blocks",
			Help: "Blocks found by the pool, by lifecycle status.",
		}, []string{"status"}),
		payouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_payouts_total",
			Help: "Payout transaction events: pending (recorded), broadcast, confirmed, broadcast_error.",
		}, []string{"status"}),
		payoutSats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_payout_satoshis_total",
			Help: "Satoshis paid to miners in confirmed payout transactions.",
		}),
		balances: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_balances_satoshis",
			Help: "Total owed to miners: the sum of all ledger balances except the fee account.",
		}),
		windowShares: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_pplns_window_shares",
			Help: "Number of shares in the last PPLNS window snapshot.",
		}),
		openBlocks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_payout_oldest_unconfirmed_blocks",
			Help: "Blocks the oldest payout not yet confirmed (pending or broadcast) has waited since it was built; 0 when none is open. Set by each reconciliation.",
		}),
	}
	for _, s := range blockStatuses {
		m.blocks.WithLabelValues(s)
	}
	for _, s := range []string{PayoutPending, PayoutBroadcast, PayoutConfirmed, PayoutUnconfirmed, "broadcast_error"} {
		m.payouts.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.blocks, m.payouts, m.payoutSats, m.balances, m.windowShares, m.openBlocks)
	}
	return m
}
