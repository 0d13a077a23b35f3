package codec

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoding and encoding failures wrap one of them, usually
// inside a *FieldError.
var (
	// ErrShortBuffer means the input ended before a field was complete.
	ErrShortBuffer = errors.New("short buffer")
	// ErrTrailingBytes means bytes remained after the last field.
	ErrTrailingBytes = errors.New("trailing bytes")
	// ErrTooLong means a length, count or value exceeds its type's limit
	// (encoding), or a frame exceeds the configured maximum.
	ErrTooLong = errors.New("too long")
	// ErrInvalidValue means a field holds a value its type forbids, such as
	// an OPTION tag other than 0 or 1.
	ErrInvalidValue = errors.New("invalid value")
	// ErrUnknownMessage means a message type (or extension) the codec does
	// not know.
	ErrUnknownMessage = errors.New("unknown message type")
)

// FieldError locates a codec failure: the message (or "header"), the field,
// and the underlying sentinel error.
type FieldError struct {
	Message string // message name, e.g. "SetupConnection", or "header"
	Field   string // field name as in the specification, e.g. "endpoint_host"
	Err     error  // one of the sentinel errors above
	Detail  string // optional human-readable detail (lengths)
}

// Error implements error.
func (e *FieldError) Error() string {
	s := fmt.Sprintf("sv2 codec: %s.%s: %v", e.Message, e.Field, e.Err)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the sentinel error.
func (e *FieldError) Unwrap() error { return e.Err }
