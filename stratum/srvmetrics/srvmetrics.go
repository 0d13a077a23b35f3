package srvmetrics

import (
	"fmt"
	"github.com/adit-pool/adit/stratum/sendq"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/adit-pool/adit/share"
)

// The disconnect reasons every Stratum listener counts (label "reason" of
// its adit_*_disconnects_total); a server adds its own beside them.
const (
	DiscClientClosed  = "client_closed"
	DiscReadError     = "read_error"
	DiscIdleTimeout   = "idle_timeout"
	DiscSlowConsumer  = sendq.SlowConsumer
	DiscWriteError    = sendq.WriteError
	DiscShutdown      = "shutdown"
	DiscPanic         = "panic"
	DiscSetupTimeout  = "setup_timeout"  // SV2: no SetupConnection in time
	DiscProtocolError = "protocol_error" // SV2: a protocol violation
)

// Disconnects lists the shared reasons, then extra.
func Disconnects(extra ...string) []string {
	return append([]string{DiscClientClosed, DiscReadError, DiscIdleTimeout, DiscSlowConsumer,
		DiscWriteError, DiscShutdown, DiscPanic}, extra...)
}

// CounterVec returns a counter vector with one label whose given values are
// initialised, so each is exported as 0 before it is first counted.
func CounterVec(name, help, label string, values ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	for _, val := range values {
		v.WithLabelValues(val)
	}
	return v
}

// GaugeVec is CounterVec for gauges.
func GaugeVec(name, help, label string, values ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{label})
	for _, val := range values {
		v.WithLabelValues(val)
	}
	return v
}

// Register registers cs on reg in order and returns the first error; a nil
// reg registers nothing.
func Register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

// Shares are the share counters resolved once per share.RejectReason, so the
// submit path does no label lookup.
type Shares []prometheus.Counter

// NewShares resolves one counter per reason from vec, whose only (remaining)
// label must be "result" (adit_shares_total with protocol curried). A nil vec
// gets an unregistered fallback.
func NewShares(vec *prometheus.CounterVec) (Shares, error) {
	if vec == nil {
		vec = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_shares_total", Help: "Shares by result (unregistered fallback).",
		}, []string{"result"})
	}
	var s Shares
	for _, r := range share.AllReasons() {
		c, err := vec.GetMetricWithLabelValues(r.String())
		if err != nil {
			return nil, fmt.Errorf("shares counter must have exactly the label \"result\": %w", err)
		}
		s = append(s, c)
	}
	return s, nil
}

// Inc counts one share with result r; an unknown r is ignored.
func (s Shares) Inc(r share.RejectReason) {
	if int(r) < len(s) {
		s[r].Inc()
	}
}

// Connections returns g, or an unregistered adit_connections gauge if g is
// nil.
func Connections(g prometheus.Gauge) prometheus.Gauge {
	if g == nil {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: "adit_connections", Help: "unregistered fallback"})
	}
	return g
}
