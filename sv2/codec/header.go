package codec

import "fmt"

// HeaderSize is the size of a frame header in bytes.
const HeaderSize = 6

// ChannelBit is the bit of extension_type that marks a channel message.
const ChannelBit uint16 = 0x8000

// Header is the 6-byte frame header: extension_type U16 LE (bit 0x8000 =
// channel message), msg_type U8, msg_length U24 LE. Length is the plaintext
// payload length, also under Noise encryption.
type Header struct {
	ExtensionType uint16 // including ChannelBit when set
	MsgType       MsgType
	Length        uint32 // payload length, at most MaxU24
}

// ChannelMsg reports whether the channel bit is set.
func (h Header) ChannelMsg() bool { return h.ExtensionType&ChannelBit != 0 }

// Extension returns extension_type without the channel bit (0 for the core
// protocols).
func (h Header) Extension() uint16 { return h.ExtensionType &^ ChannelBit }

// AppendTo appends the 6-byte encoding of h; Length above MaxU24 is
// ErrTooLong.
func (h Header) AppendTo(dst []byte) ([]byte, error) {
	if h.Length > MaxU24 {
		return nil, &FieldError{Message: "header", Field: "msg_length", Err: ErrTooLong, Detail: fmt.Sprintf("%d", h.Length)}
	}
	return append(dst, byte(h.ExtensionType), byte(h.ExtensionType>>8), byte(h.MsgType),
		byte(h.Length), byte(h.Length>>8), byte(h.Length>>16)), nil
}

// ParseHeader decodes exactly HeaderSize bytes.
func ParseHeader(b []byte) (Header, error) {
	d := NewDecoder(b, "header")
	h := Header{
		ExtensionType: d.U16("extension_type"),
		MsgType:       MsgType(d.U8("msg_type")),
		Length:        d.U24("msg_length"),
	}
	if err := d.Finish(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// HeaderFor returns the header senders use for m with a payload of n bytes:
// extension_type is m's extension (0 for the core protocols) plus the
// channel bit from the message table.
func HeaderFor(m Message, n int) Header {
	k := KindOf(m)
	h := Header{ExtensionType: k.Extension, MsgType: k.Type, Length: uint32(n)}
	if info, ok := Info(k); ok && info.ChannelMsg {
		h.ExtensionType |= ChannelBit
	}
	return h
}

// AppendFrame appends a complete plaintext frame (header and payload) for m.
func AppendFrame(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	out, err := AppendPayload(append(dst, make([]byte, HeaderSize)...), m)
	if err != nil {
		return nil, err
	}
	hdr, err := HeaderFor(m, len(out)-start-HeaderSize).AppendTo(make([]byte, 0, HeaderSize))
	if err != nil {
		return nil, err
	}
	copy(out[start:], hdr)
	return out, nil
}

// Kind returns the kind of message the frame carries: extension_type
// without the channel bit, and msg_type.
func (h Header) Kind() Kind { return Kind{Extension: h.Extension(), Type: h.MsgType} }

// DecodeMessage decodes the payload of a frame whose header is h. Like the
// reference implementation it dispatches on extension_type and msg_type and
// ignores the channel bit. An extension or msg_type the codec does not know
// is ErrUnknownMessage; a payload length that differs from h.Length is
// ErrInvalidValue.
func DecodeMessage(h Header, payload []byte) (Message, error) {
	if int(h.Length) != len(payload) {
		return nil, &FieldError{Message: "header", Field: "msg_length", Err: ErrInvalidValue, Detail: fmt.Sprintf("header says %d, payload is %d", h.Length, len(payload))}
	}
	return Decode(h.Kind(), payload)
}

// DecodeFrame decodes one complete plaintext frame (header and payload, no
// more, no less).
func DecodeFrame(frame []byte) (Header, Message, error) {
	if len(frame) < HeaderSize {
		return Header{}, nil, &FieldError{Message: "header", Field: "(frame)", Err: ErrShortBuffer, Detail: fmt.Sprintf("%d bytes", len(frame))}
	}
	h, err := ParseHeader(frame[:HeaderSize])
	if err != nil {
		return Header{}, nil, err
	}
	payload := frame[HeaderSize:]
	if int(h.Length) > len(payload) {
		return h, nil, &FieldError{Message: "header", Field: "(frame)", Err: ErrShortBuffer, Detail: fmt.Sprintf("msg_length %d, have %d", h.Length, len(payload))}
	}
	if int(h.Length) < len(payload) {
		return h, nil, &FieldError{Message: "header", Field: "(frame)", Err: ErrTrailingBytes, Detail: fmt.Sprintf("msg_length %d, have %d", h.Length, len(payload))}
	}
	m, err := DecodeMessage(h, payload)
	return h, m, err
}
