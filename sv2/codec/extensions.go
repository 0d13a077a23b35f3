// Extension 0x0001, Extensions Negotiation: the three messages with which a
// client asks which protocol extensions the server supports, right after
// SetupConnection.Success. Layouts, message types and channel bits as in the
// reference implementation (stratum-mining/stratum
// sv2/extensions-sv2/src/extensions_negotiation/{mod,messages}.rs): every
// frame carries extension_type 0x0001 and no channel bit.

package codec

// ExtensionNegotiation is the extension_type of Extensions Negotiation.
const ExtensionNegotiation uint16 = 0x0001

// Message types (msg_type) of Extensions Negotiation; they are valid only
// with extension_type ExtensionNegotiation.
const (
	TypeRequestExtensions        MsgType = 0x00 // RequestExtensions
	TypeRequestExtensionsSuccess MsgType = 0x01 // RequestExtensions.Success
	TypeRequestExtensionsError   MsgType = 0x02 // RequestExtensions.Error
)

// lookupNegotiation returns the table entry and a constructor for msg_type
// t of Extensions Negotiation.
func lookupNegotiation(t MsgType) (MsgInfo, func() Message, bool) {
	info := MsgInfo{Type: t, Extension: ExtensionNegotiation, Protocol: ProtocolExtension}
	switch t {
	case TypeRequestExtensions:
		info.Name = "RequestExtensions"
		return info, func() Message { return new(RequestExtensions) }, true
	case TypeRequestExtensionsSuccess:
		info.Name = "RequestExtensions.Success"
		return info, func() Message { return new(RequestExtensionsSuccess) }, true
	case TypeRequestExtensionsError:
		info.Name = "RequestExtensions.Error"
		return info, func() Message { return new(RequestExtensionsError) }, true
	}
	return MsgInfo{}, nil, false
}

// negotiationKinds lists the Extensions Negotiation kinds in ascending
// msg_type order.
func negotiationKinds() []Kind {
	return []Kind{
		{Extension: ExtensionNegotiation, Type: TypeRequestExtensions},
		{Extension: ExtensionNegotiation, Type: TypeRequestExtensionsSuccess},
		{Extension: ExtensionNegotiation, Type: TypeRequestExtensionsError},
	}
}

// RequestExtensions is RequestExtensions (extension 0x0001, msg_type 0x00):
// the client asks for the listed extensions (client → server).
type RequestExtensions struct {
	RequestID           uint16   // request_id U16, echoed in the reply
	RequestedExtensions []uint16 // requested_extensions SEQ0_64K[U16]
}

// MsgType implements Message.
func (*RequestExtensions) MsgType() MsgType { return TypeRequestExtensions }

// Extension implements ExtensionMessage.
func (*RequestExtensions) Extension() uint16 { return ExtensionNegotiation }

// MarshalTo implements Message.
func (m *RequestExtensions) MarshalTo(e *Encoder) {
	e.U16(m.RequestID)
	e.Seq064KU16("requested_extensions", m.RequestedExtensions)
}

// UnmarshalFrom implements Message.
func (m *RequestExtensions) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U16("request_id")
	m.RequestedExtensions = d.Seq064KU16("requested_extensions")
}

// RequestExtensionsSuccess is RequestExtensions.Success (extension 0x0001,
// msg_type 0x01): the server enables the listed extensions, a subset of the
// requested ones (server → client).
type RequestExtensionsSuccess struct {
	RequestID           uint16   // request_id U16
	SupportedExtensions []uint16 // supported_extensions SEQ0_64K[U16]
}

// MsgType implements Message.
func (*RequestExtensionsSuccess) MsgType() MsgType { return TypeRequestExtensionsSuccess }

// Extension implements ExtensionMessage.
func (*RequestExtensionsSuccess) Extension() uint16 { return ExtensionNegotiation }

// MarshalTo implements Message.
func (m *RequestExtensionsSuccess) MarshalTo(e *Encoder) {
	e.U16(m.RequestID)
	e.Seq064KU16("supported_extensions", m.SupportedExtensions)
}

// UnmarshalFrom implements Message.
func (m *RequestExtensionsSuccess) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U16("request_id")
	m.SupportedExtensions = d.Seq064KU16("supported_extensions")
}

// RequestExtensionsError is RequestExtensions.Error (extension 0x0001,
// msg_type 0x02): the server lists the requested extensions it does not
// support and the extensions it requires that were not requested (server →
// client).
type RequestExtensionsError struct {
	RequestID             uint16   // request_id U16
	UnsupportedExtensions []uint16 // unsupported_extensions SEQ0_64K[U16]
	RequiredExtensions    []uint16 // required_extensions SEQ0_64K[U16]
}

// MsgType implements Message.
func (*RequestExtensionsError) MsgType() MsgType { return TypeRequestExtensionsError }

// Extension implements ExtensionMessage.
func (*RequestExtensionsError) Extension() uint16 { return ExtensionNegotiation }

// MarshalTo implements Message.
func (m *RequestExtensionsError) MarshalTo(e *Encoder) {
	e.U16(m.RequestID)
	e.Seq064KU16("unsupported_extensions", m.UnsupportedExtensions)
	e.Seq064KU16("required_extensions", m.RequiredExtensions)
}

// UnmarshalFrom implements Message.
func (m *RequestExtensionsError) UnmarshalFrom(d *Decoder) {
	m.RequestID = d.U16("request_id")
	m.UnsupportedExtensions = d.Seq064KU16("unsupported_extensions")
	m.RequiredExtensions = d.Seq064KU16("required_extensions")
}
