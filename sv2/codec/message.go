package codec

import (
	"fmt"
)

// MsgType is the msg_type byte of the frame header.
type MsgType uint8

// Protocol is the subprotocol a message belongs to. The values of Mining,
// JobDeclaration and TemplateDistribution are those carried in
// SetupConnection.protocol.
type Protocol uint8

// Subprotocols.
const (
	ProtocolMining               Protocol = 0
	ProtocolJobDeclaration       Protocol = 1
	ProtocolTemplateDistribution Protocol = 2
	// ProtocolCommon marks the messages shared by all subprotocols
	// (SetupConnection and friends); it is never sent on the wire.
	ProtocolCommon Protocol = 0xff
)

// String returns the protocol name.
func (p Protocol) String() string {
	switch p {
	case ProtocolMining:
		return "Mining"
	case ProtocolJobDeclaration:
		return "JobDeclaration"
	case ProtocolTemplateDistribution:
		return "TemplateDistribution"
	case ProtocolCommon:
		return "Common"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// MsgInfo describes one message type.
type MsgInfo struct {
	Type     MsgType
	Name     string   // name as in the specification, e.g. "SubmitShares.Success"
	Protocol Protocol // subprotocol
	// ChannelMsg reports whether senders set the channel bit (0x8000) in
	// extension_type, as the reference implementation's senders do
	// (mining_sv2 CHANNEL_BIT_*); the payload of such a message starts
	// with channel_id. The SetCustomMiningJob messages carry a channel_id
	// too but are sent without the bit. Receivers ignore the bit.
	ChannelMsg bool
}

// Info returns the table entry for t, or false for an unknown type.
func Info(t MsgType) (MsgInfo, bool) {
	info, _, ok := lookup(t)
	return info, ok
}

// Types returns every message type the codec knows, in ascending order.
func Types() []MsgType { return allTypes() }

// String returns the message name, or a hex form for unknown types.
func (t MsgType) String() string {
	if info, ok := Info(t); ok {
		return info.Name
	}
	return fmt.Sprintf("MsgType(0x%02x)", uint8(t))
}

// Message is one Stratum V2 message. MarshalTo appends the payload fields;
// UnmarshalFrom reads them, recording the first error in the Decoder. Use
// Marshal and Unmarshal (or Decode) rather than calling them directly: those
// check errors and trailing bytes.
type Message interface {
	MsgType() MsgType
	MarshalTo(e *Encoder)
	UnmarshalFrom(d *Decoder)
}

// New returns a zero message of type t, or an error wrapping
// ErrUnknownMessage.
func New(t MsgType) (Message, error) {
	_, mk, ok := lookup(t)
	if !ok {
		return nil, &FieldError{Message: t.String(), Field: "msg_type", Err: ErrUnknownMessage}
	}
	return mk(), nil
}

// AppendPayload appends m's payload to dst. It fails with ErrTooLong if a
// field exceeds its type's limit or the payload exceeds MaxU24 bytes.
func AppendPayload(dst []byte, m Message) ([]byte, error) {
	name := m.MsgType().String()
	start := len(dst)
	e := NewEncoder(dst, name)
	m.MarshalTo(e)
	out, err := e.Bytes()
	if err != nil {
		return nil, err
	}
	if n := len(out) - start; n > MaxU24 {
		return nil, &FieldError{Message: name, Field: "(payload)", Err: ErrTooLong, Detail: fmt.Sprintf("%d bytes", n)}
	}
	return out, nil
}

// Marshal returns m's payload.
func Marshal(m Message) ([]byte, error) { return AppendPayload(nil, m) }

// Unmarshal decodes payload into m, rejecting short input and trailing
// bytes. m must not be shared with another goroutine during the call.
func Unmarshal(payload []byte, m Message) error {
	d := NewDecoder(payload, m.MsgType().String())
	m.UnmarshalFrom(d)
	return d.Finish()
}

// Decode decodes payload as a message of type t.
func Decode(t MsgType, payload []byte) (Message, error) {
	m, err := New(t)
	if err != nil {
		return nil, err
	}
	if err := Unmarshal(payload, m); err != nil {
		return nil, err
	}
	return m, nil
}

// TLV is one extension field appended to a message: type = extension_type
// U16 ‖ field_type U8, then length U16 and value, all little-endian as the
// reference implementation writes them.
type TLV struct {
	ExtensionType uint16
	FieldType     uint8
	Value         []byte // at most 65535 bytes
}

// tlvHeaderLen is the size of a TLV's type and length.
const tlvHeaderLen = 2 + 1 + 2

// TLVs reads TLVs until the input is exhausted. A partial TLV is
// ErrShortBuffer. It returns nil when none follow.
func (d *Decoder) TLVs(field string) []TLV {
	if d.err != nil || d.Remaining() == 0 {
		return nil
	}
	// Each TLV takes at least tlvHeaderLen bytes; bound the slice by that.
	out := make([]TLV, 0, min(d.Remaining()/tlvHeaderLen, 16))
	for d.err == nil && d.Remaining() > 0 {
		var t TLV
		t.ExtensionType = d.U16(field)
		t.FieldType = d.U8(field)
		t.Value = d.B064K(field)
		if d.err == nil {
			out = append(out, t)
		}
	}
	if d.err != nil {
		return nil
	}
	return out
}

// TLVs appends TLVs.
func (e *Encoder) TLVs(field string, v []TLV) {
	for _, t := range v {
		e.U16(t.ExtensionType)
		e.U8(t.FieldType)
		e.B064K(field, t.Value)
	}
}
