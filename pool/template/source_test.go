package template_test

import (
	"context"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

// checkLeaks verifies, after every other cleanup (clients, fake nodes) ran,
// that the test left no goroutine behind.
func checkLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func startSource(t *testing.T, cfg template.SourceConfig, nodes ...*node.Client) (*template.Source, *prometheus.Registry, func()) {
	t.Helper()
	b, err := template.NewBuilder(template.BuilderConfig{PayoutScript: testPayout, PoolTag: "/t/", ExtranonceSize: 12})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	src, err := template.NewSource(cfg, nodes, b, zaptest.NewLogger(t), template.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	return src, reg, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return")
		}
	}
}

func nextJob(t *testing.T, src *template.Source, within time.Duration) *share.Job {
	t.Helper()
	select {
	case j := <-src.Jobs():
		return j
	case <-time.After(within):
		t.Fatal("no job")
		return nil
	}
}

func noJob(t *testing.T, src *template.Source, within time.Duration) {
	t.Helper()
	select {
	case j := <-src.Jobs():
		t.Fatalf("unexpected job %d (height %d, clean %v)", j.ID, j.Height, j.Clean)
	case <-time.After(within):
	}
}

func TestSourceNewBlocks(t *testing.T) {
	checkLeaks(t)
	f := newFakeNode(t, 10)
	// Two clients on one node: every block fires two longpolls and two polls.
	src, reg, stop := startSource(t, template.SourceConfig{Refresh: time.Hour, Poll: 20 * time.Millisecond},
		f.client(t, "a"), f.client(t, "b"))
	j := nextJob(t, src, 5*time.Second)
	if !j.Clean || j.Height != 11 || j.ID != 1 {
		t.Fatalf("first job: clean=%v height=%d id=%d", j.Clean, j.Height, j.ID)
	}
	for i := 0; i < 3; i++ {
		f.mine()
		k := nextJob(t, src, 5*time.Second)
		tip, h := f.tip()
		if !k.Clean || k.Height != int64(h+1) || k.PrevHash != tip || k.ID != j.ID+1 {
			t.Fatalf("after block: clean=%v height=%d id=%d prev=%x", k.Clean, k.Height, k.ID, k.PrevHash)
		}
		noJob(t, src, 200*time.Millisecond) // the other signals for this tip are deduplicated
		j = k
	}
	if v := metricValue(t, reg, "adit_template_jobs_total", "true"); v != 4 {
		t.Fatalf("clean jobs counted %v", v)
	}
	stop()
}

func TestSourceRefreshAndPollFallback(t *testing.T) {
	checkLeaks(t)
	f := newFakeNode(t, 5)
	src, reg, stop := startSource(t, template.SourceConfig{Refresh: 150 * time.Millisecond, Poll: 30 * time.Millisecond},
		f.client(t, "a"))
	j := nextJob(t, src, 5*time.Second)
	for i := 0; i < 3; i++ {
		k := nextJob(t, src, 2*time.Second)
		if k.Clean || k.PrevHash != j.PrevHash || k.ID != j.ID+1 {
			t.Fatalf("refresh job: clean=%v id=%d", k.Clean, k.ID)
		}
		j = k
	}
	if age := metricValue(t, reg, "adit_template_age_seconds", ""); age < 0 || age > 1 {
		t.Fatalf("template age %v", age)
	}
	f.mine()
	for {
		k := nextJob(t, src, 2*time.Second)
		if k.ID <= j.ID {
			t.Fatal("ids not increasing")
		}
		j = k
		if k.Clean {
			break
		}
	}
	stop()
}

func TestSourceRetriesUntilNodeAnswers(t *testing.T) {
	checkLeaks(t)
	bad, err := node.New(node.Config{Name: "down", URL: "http://127.0.0.1:1", Timeout: time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	f := newFakeNode(t, 3)
	// One node down, one up: the job comes from the one that answers.
	src, reg, stop := startSource(t, template.SourceConfig{Refresh: time.Hour, Poll: time.Hour}, bad, f.client(t, "up"))
	j := nextJob(t, src, 5*time.Second)
	if !j.Clean || j.Height != 4 {
		t.Fatalf("job %+v", j)
	}
	stop()
	_ = reg
}

// TestSourceNodeMetrics: the best-block poll keeps adit_node_up per node
// (0 for one that does not answer, from the start) and, for one that does,
// its tip's height and header time, updated when a block arrives.
func TestSourceNodeMetrics(t *testing.T) {
	checkLeaks(t)
	bad, err := node.New(node.Config{Name: "down", URL: "http://127.0.0.1:1", Timeout: time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	f := newFakeNode(t, 7)
	src, reg, stop := startSource(t, template.SourceConfig{Refresh: time.Hour, Poll: 20 * time.Millisecond}, bad, f.client(t, "up"))
	defer stop()
	if v := metricValue(t, reg, "adit_node_up", "down"); v != 0 {
		t.Fatalf("adit_node_up{node=down} = %v before any poll", v)
	}
	nextJob(t, src, 5*time.Second)
	waitMetric := func(name, node string, want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, ok := gaugeValue(t, reg, name, node)
			if ok && v == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s{node=%q} = %v (present %v), want %v", name, node, v, ok, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitMetric("adit_node_up", "up", 1)
	waitMetric("adit_node_tip_height", "up", 7)
	waitMetric("adit_node_tip_timestamp_seconds", "up", float64(fakeBlockTime(7)))
	f.mine()
	waitMetric("adit_node_tip_height", "up", 8)
	waitMetric("adit_node_tip_timestamp_seconds", "up", float64(fakeBlockTime(8)))
	if v := metricValue(t, reg, "adit_node_up", "down"); v != 0 {
		t.Fatalf("adit_node_up{node=down} = %v", v)
	}
	for _, name := range []string{"adit_node_tip_height", "adit_node_tip_timestamp_seconds"} {
		if v, ok := gaugeValue(t, reg, name, "down"); ok {
			t.Fatalf("%s{node=down} = %v for a node never reached", name, v)
		}
	}
}

func TestSourceRunTwice(t *testing.T) {
	checkLeaks(t)
	f := newFakeNode(t, 3)
	src, _, stop := startSource(t, template.SourceConfig{Refresh: time.Hour, Poll: time.Hour}, f.client(t, "a"))
	nextJob(t, src, 5*time.Second)
	if err := src.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
	stop()
	if _, err := template.NewSource(template.SourceConfig{}, nil, nil, nil, nil); err == nil {
		t.Fatal("NewSource without nodes accepted")
	}
}
