package pool

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/prometheus/client_golang/prometheus"
)

func TestExampleConfigDecodes(t *testing.T) {
	cfg, err := LoadConfig("../deploy/aditd.example.toml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Network != "mainnet" || len(cfg.Nodes) != 1 || cfg.Stratum.VersionMask != "1fffe000" {
		t.Fatalf("unexpected example config: %+v", cfg)
	}
	// The placeholder payout address is the only thing an operator must fill in.
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "payout_address") {
		t.Fatalf("Validate() = %v, want a payout_address complaint", err)
	}
	cfg.PayoutAddress = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("example config with a real address: %v", err)
	}
	for _, n := range []int{7, 29} {
		cfg.ExtranonceSize = n
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "extranonce_size") {
			t.Errorf("extranonce_size %d: Validate() = %v", n, err)
		}
	}
}

func TestConfigEnvOverridesAndRegtestOnlyFloor(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/c.toml"
	if err := os.WriteFile(path, []byte(`network = "testnet3"
payout_address = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
[[node]]
url = "http://127.0.0.1:18332"
[regtest]
block_floor_difficulty = 1
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ADIT_NODE_0_PASSWORD": "s3cret", "ADIT_DATABASE_DSN": "postgres://x"}
	cfg, err := LoadConfig(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Nodes[0].Password != "s3cret" || cfg.Database.DSN != "postgres://x" {
		t.Fatalf("environment not applied: %+v", cfg)
	}
	err = cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "regtest-only") {
		t.Fatalf("Validate() = %v, want the regtest-only refusal", err)
	}
}

func TestConfigUnknownKeyRefused(t *testing.T) {
	path := t.TempDir() + "/c.toml"
	if err := os.WriteFile(path, []byte("netwrok = \"regtest\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path, nil); err == nil || !strings.Contains(err.Error(), "netwrok") {
		t.Fatalf("LoadConfig = %v, want unknown key error", err)
	}
}

func TestAuthorize(t *testing.T) {
	b := &backend{params: &chaincfg.RegressionNetParams}
	w, err := b.Authorize("bcrt1qc0vts3a5e8p9lfepcdf44js99skfy5c79u80et.rig-7", "x")
	if err != nil || w.Address != "bcrt1qc0vts3a5e8p9lfepcdf44js99skfy5c79u80et" || w.Name != "rig-7" {
		t.Fatalf("Authorize = %+v, %v", w, err)
	}
	for _, bad := range []string{"", ".w", "notanaddress.w", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq.w"} {
		if _, err := b.Authorize(bad, ""); err == nil {
			t.Errorf("Authorize(%q) accepted", bad)
		}
	}
}

func TestVardiffConvergesAndClamps(t *testing.T) {
	cfg := VardiffConfig{Start: 1, Min: 0.001, Max: 1000, TargetInterval: Duration(10 * time.Second), RetargetShares: 8}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	v := newVardiff(&cfg)
	now := time.Unix(1000, 0)
	// A miner 20x too fast for difficulty 1: a share every 0.5 s.
	// The miner makes 2 difficulty-1 shares per second: one share per 10 s
	// needs difficulty 20.
	changed := 0
	for i := 0; i < 400; i++ {
		interval := time.Duration(float64(time.Second) * v.Difficulty() / 2)
		now = now.Add(interval)
		if _, c := v.OnShare(now); c {
			changed++
		}
	}
	if d := v.Difficulty(); d < 12 || d > 35 {
		t.Fatalf("difficulty %v after convergence, want about 20", d)
	}
	if changed == 0 || changed > 10 {
		t.Fatalf("%d retargets, want a few", changed)
	}
	if got := v.Suggest(1e9); got != 1000 {
		t.Fatalf("Suggest clamps to max: got %v", got)
	}
	v.SetMinimum(2000) // above max: clamped to max
	if got := v.Suggest(0.5); got != 1000 {
		t.Fatalf("minimum-difficulty floor ignored: %v", got)
	}
}

func TestExtranonceAllocatorUniqueAndReleased(t *testing.T) {
	a := newExtranonceAllocator(7)
	seen := map[string]bool{}
	var releases []func()
	for i := 0; i < 1000; i++ {
		p, rel, err := a.allocate()
		if err != nil {
			t.Fatal(err)
		}
		if p[0] != 7 || len(p) != PrefixSize {
			t.Fatalf("prefix %x lacks the instance byte", p)
		}
		if seen[string(p)] {
			t.Fatalf("prefix %x handed out twice", p)
		}
		seen[string(p)] = true
		releases = append(releases, rel)
	}
	for _, r := range releases {
		r()
		r() // idempotent
	}
	if len(a.inUse) != 0 {
		t.Fatalf("%d prefixes still in use after release", len(a.inUse))
	}
	a.space = 4
	for i := 0; i < 4; i++ {
		if _, _, err := a.allocate(); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := a.allocate(); !errors.Is(err, ErrExtranonceExhausted) {
		t.Fatalf("allocate on a full space: %v", err)
	}
}

func TestJobHubLatestWins(t *testing.T) {
	h := NewJobHub(prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x"}))
	j1, j2, j3 := &share.Job{ID: 1}, &share.Job{ID: 2}, &share.Job{ID: 3}
	h.Publish(j1)
	ch, cancel := h.Subscribe()
	if got := <-ch; got != j1 {
		t.Fatalf("subscriber did not get the current job first")
	}
	h.Publish(j2)
	h.Publish(j3) // the subscriber is slow: j2 is replaced
	if got := <-ch; got != j3 {
		t.Fatalf("got job %d, want the newest (3)", got.ID)
	}
	cancel()
	cancel()
	h.Publish(j1)
	select {
	case j := <-ch:
		t.Fatalf("cancelled subscriber received job %d", j.ID)
	default:
	}
}
