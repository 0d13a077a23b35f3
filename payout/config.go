package payout

import (
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
)

// Defaults for the zero values of the configuration fields.
const (
	DefaultPPLNSFactor    = 2.0
	DefaultMaturity       = 101
	DefaultPollInterval   = 10 * time.Second
	DefaultSnapshotWait   = 10 * time.Minute
	DefaultSnapshotChunk  = 100_000
	DefaultPayoutInterval = 10 * time.Minute
	DefaultReorgDepth     = 6
	DefaultRecoverDepth   = 144
	// MinThreshold keeps payout outputs well above the dust limit.
	MinThreshold = 10_000
)

// TrackerConfig configures block tracking, PPLNS and crediting.
type TrackerConfig struct {
	// PPLNSFactor: the window is PPLNSFactor × network difficulty of the
	// block's share. Zero means DefaultPPLNSFactor.
	PPLNSFactor float64
	// FeeBasisPoints is the pool fee in 1/100 % (150 = 1.5 %), [0, 10000].
	FeeBasisPoints int64
	// FeeAccount is the ledger address the pool fee is credited to. It is
	// never paid out by the Payer (its coins stay in the pool's outputs).
	FeeAccount string
	// Maturity is the number of confirmations at which a block is credited.
	// Zero means DefaultMaturity (101).
	Maturity int64
	// PollInterval is how often Run checks the chain. Zero: DefaultPollInterval.
	PollInterval time.Duration
	// SnapshotWait is how long the snapshot waits for the block-finding
	// share to reach Postgres (the share log ships asynchronously) before it
	// is taken anchored at the block's time instead. Zero: DefaultSnapshotWait.
	SnapshotWait time.Duration
	// SnapshotChunk is the keyset chunk of the snapshot walk. Zero:
	// DefaultSnapshotChunk.
	SnapshotChunk int
	// PoolScript is the output script the pool's coinbases pay (the P2WPKH
	// script of the payout key, Key.PkScript). Coinbase outputs paying it
	// become the Payer's spendable outputs when their block matures.
	PoolScript []byte
	// RecoverDepth is how many of the best chain's newest blocks
	// RecoverFromChain looks at. Zero: DefaultRecoverDepth.
	RecoverDepth int64
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

func (c *TrackerConfig) withDefaults() TrackerConfig {
	d := *c
	if d.PPLNSFactor == 0 {
		d.PPLNSFactor = DefaultPPLNSFactor
	}
	if d.Maturity == 0 {
		d.Maturity = DefaultMaturity
	}
	if d.PollInterval == 0 {
		d.PollInterval = DefaultPollInterval
	}
	if d.SnapshotWait == 0 {
		d.SnapshotWait = DefaultSnapshotWait
	}
	if d.SnapshotChunk == 0 {
		d.SnapshotChunk = DefaultSnapshotChunk
	}
	if d.RecoverDepth == 0 {
		d.RecoverDepth = DefaultRecoverDepth
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	return d
}

// Validate checks the configuration (zero values stand for the defaults).
func (c *TrackerConfig) Validate() error {
	d := c.withDefaults()
	switch {
	case !(d.PPLNSFactor > 0) || d.PPLNSFactor > 1e6:
		return &ConfigError{"pplns_factor", fmt.Sprintf("%v is not in (0, 1e6]", c.PPLNSFactor)}
	case d.FeeBasisPoints < 0 || d.FeeBasisPoints > MaxBasisPoints:
		return &ConfigError{"fee_basis_points", fmt.Sprintf("%d is not in [0, 10000]", c.FeeBasisPoints)}
	case d.FeeAccount == "":
		return &ConfigError{"fee_account", "is empty"}
	case d.Maturity < 1:
		return &ConfigError{"maturity", "must be at least 1"}
	case d.PollInterval < 0 || d.SnapshotWait < 0:
		return &ConfigError{"poll_interval", "durations must not be negative"}
	case d.SnapshotChunk < 1:
		return &ConfigError{"snapshot_chunk", "must be positive"}
	case d.RecoverDepth < 1 || d.RecoverDepth > 10_000:
		return &ConfigError{"recover_depth", fmt.Sprintf("%d is not in [1, 10000]", c.RecoverDepth)}
	case len(d.PoolScript) == 0:
		return &ConfigError{"pool_script", "is empty (set it from the payout key)"}
	}
	return nil
}

// FeePolicy says who pays a payout transaction's fee.
type FeePolicy string

// Fee policies.
const (
	// FeePolicyPool: miners receive their whole balance; the fee is charged
	// to the fee account in the ledger.
	FeePolicyPool FeePolicy = "pool"
	// FeePolicyMiners: the fee is split among the paid miners in proportion
	// to their balances (largest remainder) and deducted from their outputs.
	FeePolicyMiners FeePolicy = "miners"
)

// PayerConfig configures payouts.
type PayerConfig struct {
	// Network is the chain the miners' addresses and the key belong to.
	Network *chaincfg.Params
	// Threshold: balances at or above it are paid. At least MinThreshold.
	Threshold int64
	// FeeRate is the transaction fee rate in satoshis per virtual byte.
	FeeRate int64
	// FeePolicy says who pays the fee; empty means FeePolicyPool.
	FeePolicy FeePolicy
	// FeeAccount is the tracker's fee account: never paid out, charged the
	// fee under FeePolicyPool.
	FeeAccount string
	// Interval is how often Run pays. Zero: DefaultPayoutInterval.
	Interval time.Duration
	// MaxOutputs bounds the miners paid per transaction (the rest wait for
	// the next run); zero means 1000.
	MaxOutputs int
	// ReorgDepth is how deep a reorganisation Reconcile allows for: a
	// confirmed payout whose block leaves the best chain while fewer than
	// ReorgDepth blocks sit on it goes back to broadcast, and the search
	// for open payouts looks this many blocks behind where it last looked.
	// Zero means DefaultReorgDepth.
	ReorgDepth int64
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

func (c *PayerConfig) withDefaults() PayerConfig {
	d := *c
	if d.FeePolicy == "" {
		d.FeePolicy = FeePolicyPool
	}
	if d.Interval == 0 {
		d.Interval = DefaultPayoutInterval
	}
	if d.MaxOutputs == 0 {
		d.MaxOutputs = 1000
	}
	if d.ReorgDepth == 0 {
		d.ReorgDepth = DefaultReorgDepth
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	return d
}

// Validate checks the configuration.
func (c *PayerConfig) Validate() error {
	d := c.withDefaults()
	switch {
	case d.Network == nil:
		return &ConfigError{"network", "is not set"}
	case d.Threshold < MinThreshold:
		return &ConfigError{"threshold", fmt.Sprintf("%d sats is below the minimum %d", c.Threshold, MinThreshold)}
	case d.FeeRate < 1 || d.FeeRate > 10_000:
		return &ConfigError{"fee_rate", fmt.Sprintf("%d sat/vB is not in [1, 10000]", c.FeeRate)}
	case d.FeePolicy != FeePolicyPool && d.FeePolicy != FeePolicyMiners:
		return &ConfigError{"fee_policy", fmt.Sprintf("%q is neither %q nor %q", c.FeePolicy, FeePolicyPool, FeePolicyMiners)}
	case d.FeeAccount == "":
		return &ConfigError{"fee_account", "is empty"}
	case d.Interval < 0:
		return &ConfigError{"interval", "must not be negative"}
	case d.MaxOutputs < 1:
		return &ConfigError{"max_outputs", "must be positive"}
	case d.ReorgDepth < 1:
		return &ConfigError{"reorg_depth", "must be positive"}
	}
	return nil
}
