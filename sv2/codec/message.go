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

// ProtocolExtension marks the messages of a protocol extension (such as
// Extensions Negotiation); MsgInfo.Extension names the extension. Like
// ProtocolCommon it is never sent on the wire.
const ProtocolExtension Protocol = 0xfe

// Kind identifies a message on the wire: the extension it belongs to
// (extension_type without the channel bit; 0 for the core protocols) and its
// msg_type. msg_type alone is ambiguous: each extension numbers its messages
// from 0x00 again.
type Kind struct {
	Extension uint16
	Type      MsgType
}

// Core returns the kind of core-protocol message type t (extension 0).
func Core(t MsgType) Kind { return Kind{Type: t} }

// String returns the message name, or a hex form for unknown kinds.
func (k Kind) String() string {
	if info, ok := Info(k); ok {
		return info.Name
	}
	if k.Extension == 0 {
		return fmt.Sprintf("MsgType(0x%02x)", uint8(k.Type))
	}
	return fmt.Sprintf("Extension(0x%04x).MsgType(0x%02x)", k.Extension, uint8(k.Type))
}

// MsgInfo describes one message kind.
type MsgInfo struct {
	Type      MsgType
	Extension uint16   // extension_type without the channel bit; 0 for the core protocols
	Name      string   // name as in the specification, e.g. "SubmitShares.Success"
	Protocol  Protocol // subprotocol, or ProtocolExtension
	// ChannelMsg reports whether senders set the channel bit (0x8000) in
	// extension_type (SV2-WIRE.md §3, after the 2026-05 spec change that
	// matched it to SRI); the payload of such a message starts with
	// channel_id. Receivers ignore the bit, as SRI's do.
	ChannelMsg bool
}

// Kind returns the kind the entry describes.
func (i MsgInfo) Kind() Kind { return Kind{Extension: i.Extension, Type: i.Type} }

// Info returns the table entry for k, or false for an unknown kind.
func Info(k Kind) (MsgInfo, bool) {
	info, _, ok := lookup(k)
	return info, ok
}

// Kinds returns every message kind the codec knows: the core protocols in
// ascending msg_type order, then each extension's messages in ascending
// (extension, msg_type) order.
func Kinds() []Kind { return append(coreKinds(), extensionKinds()...) }

// String returns the name of core-protocol message type t (extension 0),
// or a hex form for unknown types. Extension messages reuse msg_type
// numbers; name them with Kind.String.
func (t MsgType) String() string { return Core(t).String() }

// Message is one Stratum V2 message. MarshalTo appends the payload fields;
// UnmarshalFrom reads them, recording the first error in the Decoder. Use
// Marshal and Unmarshal (or Decode) rather than calling them directly: those
// check errors and trailing bytes. A message of a protocol extension also
// implements ExtensionMessage; KindOf tells the two apart.
type Message interface {
	MsgType() MsgType
	MarshalTo(e *Encoder)
	UnmarshalFrom(d *Decoder)
}

// ExtensionMessage is implemented by the messages of a protocol extension:
// Extension returns its extension_type (without the channel bit).
type ExtensionMessage interface {
	Message
	Extension() uint16
}

// KindOf returns m's kind: extension 0 unless m is an ExtensionMessage.
func KindOf(m Message) Kind {
	k := Core(m.MsgType())
	if em, ok := m.(ExtensionMessage); ok {
		k.Extension = em.Extension()
	}
	return k
}

// New returns a zero message of kind k, or an error wrapping
// ErrUnknownMessage.
func New(k Kind) (Message, error) {
	_, mk, ok := lookup(k)
	if !ok {
		return nil, &FieldError{Message: k.String(), Field: "msg_type", Err: ErrUnknownMessage}
	}
	return mk(), nil
}

// lookup returns the table entry and a constructor for kind k.
func lookup(k Kind) (MsgInfo, func() Message, bool) {
	switch k.Extension {
	case 0:
		return lookupCore(k.Type)
	case ExtensionNegotiation:
		return lookupNegotiation(k.Type)
	}
	return MsgInfo{}, nil, false
}

// extensionKinds lists the kinds of every extension message the codec
// knows, in ascending (extension, msg_type) order.
func extensionKinds() []Kind { return negotiationKinds() }

// AppendPayload appends m's payload to dst. It fails with ErrTooLong if a
// field exceeds its type's limit or the payload exceeds MaxU24 bytes.
func AppendPayload(dst []byte, m Message) ([]byte, error) {
	name := KindOf(m).String()
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
	d := NewDecoder(payload, KindOf(m).String())
	m.UnmarshalFrom(d)
	return d.Finish()
}

// Decode decodes payload as a message of kind k.
func Decode(k Kind, payload []byte) (Message, error) {
	m, err := New(k)
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
