package srvmetrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/adit-pool/adit/share"
)

func TestCounterVecPreinitialised(t *testing.T) {
	v := CounterVec("x_total", "help", "reason", "a", "b")
	if n := count(v); n != 2 {
		t.Fatalf("%d series, want 2", n)
	}
	g := GaugeVec("y", "help", "type", "a", "b", "c")
	if n := count(g); n != 3 {
		t.Fatalf("%d series, want 3", n)
	}
}

func TestShares(t *testing.T) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "adit_shares_total"}, []string{"protocol", "result"})
	s, err := NewShares(vec.MustCurryWith(prometheus.Labels{"protocol": "v1"}))
	if err != nil {
		t.Fatal(err)
	}
	s.Inc(share.Accepted)
	s.Inc(share.Accepted)
	s.Inc(share.RejectReason(255)) // unknown: ignored
	if got := value(vec.WithLabelValues("v1", share.Accepted.String())); got != 2 {
		t.Fatalf("accepted = %v", got)
	}
	if _, err := NewShares(vec); err == nil || !strings.Contains(err.Error(), `exactly the label "result"`) {
		t.Fatalf("uncurried vec: err = %v", err)
	}
	if s, err := NewShares(nil); err != nil || len(s) != len(share.AllReasons()) {
		t.Fatalf("fallback: %v, %d counters", err, len(s))
	}
}

func TestRegister(t *testing.T) {
	if err := Register(nil, prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total"})); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "h"})
	if err := Register(reg, c); err != nil {
		t.Fatal(err)
	}
	err := Register(reg, prometheus.NewCounter(prometheus.CounterOpts{Name: "a_total", Help: "h"}))
	if err == nil || !strings.HasPrefix(err.Error(), "register metrics: ") {
		t.Fatalf("duplicate registration: err = %v", err)
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"})
	if Connections(nil) == nil || Connections(g) != g {
		t.Fatal("Connections fallback")
	}
}

func count(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
