// Package codec is the Stratum V2 binary codec: the data types (U8…U256,
// BOOL, F32, B0_32…B0_16M, STR0_255, SEQ0_255/SEQ0_64K, OPTION, PUBKEY,
// SIGNATURE), the 6-byte frame header with the channel bit, and every message
// of the Common, Mining, Job Declaration and Template Distribution
// protocols and of the Extensions Negotiation extension (0x0001) in the wire
// format of the current reference implementation. A message is identified by
// its Kind: extension_type (0 for the core protocols) and msg_type.
//
// The codec does no I/O: it turns byte slices into values and back. Decoders
// check every length against the bytes actually present before allocating,
// reject trailing bytes, copy what they keep (decoded values never alias the
// input) and report failures as *FieldError values wrapping the sentinel
// errors below, so callers can use errors.Is and still log the message and
// field. Nothing here panics on input; nothing here keeps global state.
package codec
