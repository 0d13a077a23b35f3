package jd

import "errors"

// Error codes of DeclareMiningJob.Error and SetCustomMiningJob.Error, the
// reference implementation's strings (SV2-JD.md §1.5), and of
// SetupConnection.Error on the JD port.
const (
	CodeInvalidMiningJobToken  = "invalid-mining-job-token"
	CodeMissingTxs             = "missing-txs"
	CodeInvalidCoinbaseTx      = "invalid-coinbase-tx"
	CodeInvalidCoinbaseTxInput = "invalid-coinbase-tx-input"
	CodeInternalError          = "internal-error"
	CodeStaleChainTip          = "stale-chain-tip"
	CodeInvalidJob             = "invalid-job"
	// CodeRateLimited refuses a declaration over the connection's rate or
	// pending limit (ckpool's code; the reference has none).
	CodeRateLimited = "rate-limited"

	// SetCustomMiningJob.Error codes checked by CheckCustomJob and Activate.
	CodeJobNotYetValidated              = "job-not-yet-validated"
	CodeInvalidNBits                    = "invalid-nbits"
	CodeInvalidVersion                  = "invalid-version"
	CodeInvalidCoinbaseTxVersion        = "invalid-coinbase-tx-version"
	CodeInvalidCoinbasePrefix           = "invalid-coinbase-prefix"
	CodeInvalidCoinbaseTxInputNSequence = "invalid-coinbase-tx-input-n-sequence"
	CodeInvalidCoinbaseTxOutputs        = "invalid-coinbase-tx-outputs"
	CodeInvalidCoinbaseTxLocktime       = "invalid-coinbase-tx-locktime"
	CodeInvalidMerklePath               = "invalid-merkle-path"

	// SetupConnection.Error codes.
	CodeUnsupportedProtocol      = "unsupported-protocol"
	CodeProtocolVersionMismatch  = "protocol-version-mismatch"
	CodeMissingDeclareTxDataFlag = "missing-declare-tx-data-flag"
)

// Errors of Activate; ErrorCode maps them to SetCustomMiningJob.Error codes.
var (
	// ErrInvalidToken: the token is malformed, unknown, not active (only
	// allocated), already used, expired, or bound to another user
	// identity (the wrapping error says which).
	ErrInvalidToken = errors.New("jd: " + CodeInvalidMiningJobToken)
	// ErrNotYetValidated: the token's declaration is still being checked
	// (waiting for ProvideMissingTransactions.Success or the node).
	ErrNotYetValidated = errors.New("jd: " + CodeJobNotYetValidated)
)

// ErrorCode returns the SetCustomMiningJob.Error code for an Activate
// error: invalid-mining-job-token, job-not-yet-validated, else
// internal-error.
func ErrorCode(err error) string {
	switch {
	case errors.Is(err, ErrInvalidToken):
		return CodeInvalidMiningJobToken
	case errors.Is(err, ErrNotYetValidated):
		return CodeJobNotYetValidated
	}
	return CodeInternalError
}
