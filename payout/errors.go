package payout

import (
	"errors"
	"fmt"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrEmptyWindow means a split was asked for with no positive weight.
	ErrEmptyWindow = errors.New("payout: PPLNS window has no weight")
	// ErrNegativeReward means a reward below zero was given to Split.
	ErrNegativeReward = errors.New("payout: negative reward")
	// ErrFeeBasisPoints means a fee outside [0, 10000] basis points.
	ErrFeeBasisPoints = errors.New("payout: fee basis points outside [0, 10000]")
	// ErrUnknownBlock means a block hash the store has never recorded.
	ErrUnknownBlock = errors.New("payout: unknown block")
	// ErrNoCoinbase means a block from the node had no transactions.
	ErrNoCoinbase = errors.New("payout: block has no coinbase transaction")
	// ErrInsufficientFunds means the pool's spendable outputs cannot cover a payout.
	ErrInsufficientFunds = errors.New("payout: spendable pool outputs do not cover the payout")
	// ErrFeeAccountShort means the fee account cannot pay a transaction fee
	// under FeePolicyPool.
	ErrFeeAccountShort = errors.New("payout: fee account balance does not cover the transaction fee")
	// ErrUnknownPayout means a payout txid the store has never recorded.
	ErrUnknownPayout = errors.New("payout: unknown payout")
	// ErrNilDB means a constructor was given no database.
	ErrNilDB = errors.New("payout: nil database")
)

// KeyFileError reports a pool key file that was refused.
type KeyFileError struct {
	Path   string
	Reason string
	Err    error
}

func (e *KeyFileError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("payout: key file %s: %s: %v", e.Path, e.Reason, e.Err)
	}
	return fmt.Sprintf("payout: key file %s: %s", e.Path, e.Reason)
}

func (e *KeyFileError) Unwrap() error { return e.Err }

// ConfigError reports an invalid configuration field.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("payout: config %s: %s", e.Field, e.Reason)
}
