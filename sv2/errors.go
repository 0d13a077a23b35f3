package sv2

import (
	"errors"
	"fmt"

	"github.com/adit-pool/adit/share"
)

// Error codes sent in SetupConnection.Error, OpenMiningChannel.Error,
// UpdateChannel.Error and SubmitShares.Error: the strings of the reference
// implementation (SRI common_messages_sv2 / mining_sv2 ERROR_CODE_*).
const (
	CodeUnsupportedFeatureFlags = "unsupported-feature-flags"
	CodeUnsupportedProtocol     = "unsupported-protocol"
	CodeProtocolVersionMismatch = "protocol-version-mismatch"

	CodeUnknownUser = "unknown-user"
	// CodeExtendedChannelsNotSupportedForStandardJobs refuses an extended
	// channel on a connection that set REQUIRES_STANDARD_JOBS.
	CodeExtendedChannelsNotSupportedForStandardJobs = "extended-channels-not-supported-for-standard-jobs"
	CodeInvalidUserIdentity                         = "invalid-user-identity"
	CodeInvalidNominalHashrate                      = "invalid-nominal-hashrate"
	CodeMaxTargetOutOfRange                         = "max-target-out-of-range"
	CodeMinExtranonceSizeTooLarge                   = "min-extranonce-size-too-large"
	CodeChannelCapacityExhausted                    = "channel-capacity-exhausted"
	CodeInvalidChannelID                            = "invalid-channel-id"
	CodeInvalidShare                                = "invalid-share"
	CodeStaleShare                                  = "stale-share"
	CodeInvalidJobID                                = "invalid-job-id"
	CodeDifficultyTooLow                            = "difficulty-too-low"
	CodeDuplicateShare                              = "duplicate-share"
	CodeBadExtranonceSize                           = "bad-extranonce-size"
	CodeVersionRollingNotAllowed                    = "version-rolling-not-allowed"
	CodeInvalidNonRollableVersion                   = "invalid-non-rollable-version-bit"
	CodeJDNotSupported                              = "jd-not-supported"
	// The reference pool has no code for the two cases below (it accepts
	// connections only once it has a template, and it does not persist a
	// share before acknowledging it); SRI clients act on the message type,
	// not on the string.
	CodeNoWorkAvailable = "no-work-available"
	CodeInternalError   = "internal-error"
)

// RejectCode returns the SubmitShares.Error error_code for a reject reason,
// following SRI's share validation (SV2-WIRE.md §4).
func RejectCode(r share.RejectReason) string {
	switch r {
	case share.RejectStale:
		return CodeStaleShare
	case share.RejectJobNotFound:
		return CodeInvalidJobID
	case share.RejectBadExtranonce:
		return CodeBadExtranonceSize
	case share.RejectBadNTime:
		return CodeInvalidShare
	case share.RejectBadVersion:
		return CodeInvalidNonRollableVersion
	case share.RejectDuplicate:
		return CodeDuplicateShare
	case share.RejectLowDifficulty:
		return CodeDifficultyTooLow
	case share.RejectNotSubscribed, share.RejectUnauthorized:
		return CodeInvalidChannelID
	case share.RejectInternal:
		return CodeInternalError
	}
	return CodeInvalidShare
}

// ErrProtocol is wrapped by every *ProtocolError.
var ErrProtocol = errors.New("sv2: protocol error")

// ProtocolError is a peer's violation of the mining protocol (a frame that
// does not decode, a message out of order, a message only a server sends).
// The connection is closed after it; Reason is the bounded metric label.
type ProtocolError struct {
	Reason string
	Err    error
}

func (e *ProtocolError) Error() string {
	if e.Err == nil {
		return "sv2: protocol error: " + e.Reason
	}
	return fmt.Sprintf("sv2: protocol error: %s: %v", e.Reason, e.Err)
}

// Unwrap returns the cause.
func (e *ProtocolError) Unwrap() []error { return []error{ErrProtocol, e.Err} }

// Protocol error reasons (label values of adit_sv2_protocol_errors_total).
// All but perrExtension and perrExtensionIgnored end the connection; those
// two count extension frames that are ignored, as the SRI pool ignores them.
const (
	perrDecode        = "decode"
	perrUnexpected    = "unexpected_message"
	perrNoSetup       = "no_setup_connection"
	perrDoubleSetup   = "duplicate_setup_connection"
	perrFrameTooLarge = "frame_too_large"
	perrDecrypt       = "decrypt"
	perrSetupRefused  = "setup_refused"
	// perrExtension: a frame of an extension, or an extension message
	// type, the server does not know.
	perrExtension = "unknown_extension"
	// perrExtensionIgnored: an Extensions Negotiation frame other than a
	// well-formed RequestExtensions (a reply only a server sends, or a
	// payload that does not decode).
	perrExtensionIgnored = "ignored_extension_message"
)
