package pool

import (
	"fmt"
	"math"
	"time"

	"github.com/adit-pool/adit/share"
)

// VardiffConfig sets the difficulty limits and the share rate vardiff aims for.
type VardiffConfig struct {
	Start float64 `toml:"start"`
	Min   float64 `toml:"min"`
	Max   float64 `toml:"max"`
	// TargetInterval is the wanted time between a session's shares.
	TargetInterval Duration `toml:"target_interval"`
	// RetargetShares is how many shares trigger an early retarget.
	RetargetShares int `toml:"retarget_shares"`
}

// Validate checks the limits.
func (c *VardiffConfig) Validate() error {
	switch {
	case !(c.Min > 0):
		return fmt.Errorf("vardiff.min must be > 0 (fractional values like 0.0001 are fine), got %v", c.Min)
	case c.Max < c.Min:
		return fmt.Errorf("vardiff.max (%v) must be >= vardiff.min (%v)", c.Max, c.Min)
	case c.Start < c.Min || c.Start > c.Max:
		return fmt.Errorf("vardiff.start (%v) must lie in [min %v, max %v]", c.Start, c.Min, c.Max)
	case c.TargetInterval.D() <= 0:
		return fmt.Errorf("vardiff.target_interval must be > 0")
	case c.RetargetShares < 2:
		return fmt.Errorf("vardiff.retarget_shares must be >= 2, got %d", c.RetargetShares)
	}
	return nil
}

// vardiff is the per-session difficulty controller (share.Vardiff). It
// measures the share rate over a window that closes after RetargetShares
// shares or three target intervals, and moves the difficulty toward the rate
// that gives one share per TargetInterval, by at most 4x per step and only
// when off by more than 40% (so noise does not make it flap).
type vardiff struct {
	cfg         *VardiffConfig
	min         float64
	diff        float64
	windowStart time.Time
	shares      int
}

// NewVardiff returns a difficulty controller for one session or channel
// (share.Backend.NewVardiff) with cfg's limits and target interval.
func NewVardiff(cfg *VardiffConfig) share.Vardiff { return newVardiff(cfg) }

func newVardiff(cfg *VardiffConfig) *vardiff {
	return &vardiff{cfg: cfg, min: cfg.Min, diff: cfg.Start}
}

func (v *vardiff) Difficulty() float64 { return v.diff }

func (v *vardiff) clamp(d float64) float64 {
	if math.IsNaN(d) {
		return v.diff
	}
	return math.Min(v.cfg.Max, math.Max(v.min, d))
}

func (v *vardiff) Suggest(d float64) float64 {
	if d > 0 {
		v.diff = v.clamp(d)
		v.windowStart, v.shares = time.Time{}, 0
	}
	return v.diff
}

func (v *vardiff) SetMinimum(d float64) {
	if d > 0 {
		v.min = math.Min(math.Max(d, v.cfg.Min), v.cfg.Max)
		v.diff = v.clamp(v.diff)
	}
}

func (v *vardiff) OnShare(now time.Time) (float64, bool) {
	if v.windowStart.IsZero() {
		v.windowStart = now
		return v.diff, false
	}
	v.shares++
	elapsed := now.Sub(v.windowStart)
	want := v.cfg.TargetInterval.D()
	if v.shares < v.cfg.RetargetShares && elapsed < 3*want {
		return v.diff, false
	}
	observed := elapsed / time.Duration(v.shares)
	v.windowStart, v.shares = now, 0
	if observed <= 0 {
		observed = time.Millisecond
	}
	ratio := float64(want) / float64(observed)
	if ratio > 0.6 && ratio < 1.4 {
		return v.diff, false
	}
	ratio = math.Min(4, math.Max(0.25, ratio))
	next := v.clamp(v.diff * ratio)
	if next == v.diff {
		return v.diff, false
	}
	v.diff = next
	return next, true
}
