package noise

import (
	"errors"
	"fmt"
)

// Errors. Handshake failures are *HandshakeError values wrapping one of
// these (or an I/O error); test with errors.Is.
var (
	// ErrDecrypt means an AEAD tag did not verify: the peer is not speaking
	// this protocol, the data was corrupted, or the keys differ.
	ErrDecrypt = errors.New("noise: decryption failed")
	// ErrCertificateSignature means the server certificate is not signed by
	// the configured authority key.
	ErrCertificateSignature = errors.New("noise: certificate not signed by the configured authority")
	// ErrCertificateNotYetValid means now is before valid_from (minus leeway).
	ErrCertificateNotYetValid = errors.New("noise: certificate not yet valid")
	// ErrCertificateExpired means now is after not_valid_after (plus leeway).
	ErrCertificateExpired = errors.New("noise: certificate expired")
	// ErrNonceExhausted means a cipher state used all 2^64-1 nonces; there is
	// no rekey in Stratum V2, so the connection must be closed.
	ErrNonceExhausted = errors.New("noise: nonce space exhausted")
	// ErrFrameTooLarge means a frame's msg_length exceeds the configured
	// maximum; it is detected before the payload is read or allocated.
	ErrFrameTooLarge = errors.New("noise: frame too large")
	// ErrInvalidKey means a handshake key could not be decoded or generated.
	ErrInvalidKey = errors.New("noise: invalid key")
	// ErrConfig means the Initiator or Responder is misconfigured.
	ErrConfig = errors.New("noise: invalid configuration")
)

// HandshakeError reports which handshake step failed.
type HandshakeError struct {
	Role string // "initiator" or "responder"
	Step string // e.g. "read act 1", "verify certificate"
	Err  error
}

// Error implements error.
func (e *HandshakeError) Error() string {
	return fmt.Sprintf("noise %s handshake: %s: %v", e.Role, e.Step, e.Err)
}

// Unwrap returns the cause.
func (e *HandshakeError) Unwrap() error { return e.Err }
