package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Maximum lengths of the variable-size types.
const (
	MaxB032    = 32
	MaxB0255   = 255
	MaxB064K   = 1<<16 - 1
	MaxB016M   = 1<<24 - 1
	MaxSeq0255 = 255
	MaxSeq064K = 1<<16 - 1
	MaxU24     = 1<<24 - 1
)

// U256 is a 256-bit value carried as 32 raw bytes. Targets are little-endian
// integers; hashes (prev_hash, merkle nodes) are in header byte order.
type U256 = [32]byte

// PubKey is a 32-byte x-only secp256k1 public key.
type PubKey = [32]byte

// Signature is a 64-byte BIP340 Schnorr signature.
type Signature = [64]byte

// Decoder reads fields from a payload in order. It records the first error
// and turns every later read into a no-op returning zero values, so message
// decoders read all fields and check Err once. A Decoder never panics and
// never allocates more than the bytes remaining in its input justify.
type Decoder struct {
	buf []byte
	off int
	msg string
	err error
}

// NewDecoder returns a Decoder over b; msg names the message in errors.
func NewDecoder(b []byte, msg string) *Decoder { return &Decoder{buf: b, msg: msg} }

// Err returns the first error encountered, if any.
func (d *Decoder) Err() error { return d.err }

// Remaining reports the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Finish reports the first error, or ErrTrailingBytes if input remains.
func (d *Decoder) Finish() error {
	if d.err != nil {
		return d.err
	}
	if r := d.Remaining(); r != 0 {
		return &FieldError{Message: d.msg, Field: "(end)", Err: ErrTrailingBytes, Detail: fmt.Sprintf("%d bytes", r)}
	}
	return nil
}

func (d *Decoder) fail(field string, err error, detail string) {
	if d.err == nil {
		d.err = &FieldError{Message: d.msg, Field: field, Err: err, Detail: detail}
	}
}

// take returns the next n bytes (aliasing the input) or nil after recording
// ErrShortBuffer.
func (d *Decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.Remaining() {
		d.fail(field, ErrShortBuffer, fmt.Sprintf("need %d bytes, have %d", n, d.Remaining()))
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

// U8 reads an unsigned byte.
func (d *Decoder) U8(field string) uint8 {
	b := d.take(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Bool reads a BOOL. Like the reference implementation it looks only at the
// least significant bit, so every byte value decodes.
func (d *Decoder) Bool(field string) bool { return d.U8(field)&1 == 1 }

// U16 reads a little-endian uint16.
func (d *Decoder) U16(field string) uint16 {
	b := d.take(field, 2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

// U24 reads a little-endian 24-bit unsigned integer.
func (d *Decoder) U24(field string) uint32 {
	b := d.take(field, 3)
	if b == nil {
		return 0
	}
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
}

// U32 reads a little-endian uint32.
func (d *Decoder) U32(field string) uint32 {
	b := d.take(field, 4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// U64 reads a little-endian uint64.
func (d *Decoder) U64(field string) uint64 {
	b := d.take(field, 8)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// F32 reads a little-endian IEEE-754 float32 (bit pattern preserved).
func (d *Decoder) F32(field string) float32 { return math.Float32frombits(d.U32(field)) }

// U256 reads 32 raw bytes.
func (d *Decoder) U256(field string) (v U256) {
	copy(v[:], d.take(field, 32))
	return v
}

// PubKey reads a 32-byte x-only public key (not validated as a curve point).
func (d *Decoder) PubKey(field string) (v PubKey) { return d.U256(field) }

// Signature reads a 64-byte signature.
func (d *Decoder) Signature(field string) (v Signature) {
	copy(v[:], d.take(field, 64))
	return v
}

// bytesN reads a length-prefixed byte string whose prefix is prefixLen bytes
// and whose length is at most maxLen; the result is a copy, nil when empty.
func (d *Decoder) bytesN(field string, prefixLen, maxLen int) []byte {
	var n int
	switch prefixLen {
	case 1:
		n = int(d.U8(field))
	case 2:
		n = int(d.U16(field))
	default:
		n = int(d.U24(field))
	}
	if d.err != nil {
		return nil
	}
	if n > maxLen {
		d.fail(field, ErrTooLong, fmt.Sprintf("length %d, max %d", n, maxLen))
		return nil
	}
	b := d.take(field, n)
	if b == nil || n == 0 {
		return nil
	}
	out := make([]byte, n)
	copy(out, b)
	return out
}

// B032 reads a B0_32 (1-byte length, at most 32 bytes).
func (d *Decoder) B032(field string) []byte { return d.bytesN(field, 1, MaxB032) }

// B0255 reads a B0_255 (1-byte length).
func (d *Decoder) B0255(field string) []byte { return d.bytesN(field, 1, MaxB0255) }

// B064K reads a B0_64K (2-byte LE length).
func (d *Decoder) B064K(field string) []byte { return d.bytesN(field, 2, MaxB064K) }

// B016M reads a B0_16M (3-byte LE length).
func (d *Decoder) B016M(field string) []byte { return d.bytesN(field, 3, MaxB016M) }

// Str0255 reads a STR0_255 (1-byte length). The bytes are not required to be
// UTF-8, matching the reference implementation.
func (d *Decoder) Str0255(field string) string {
	b := d.bytesN(field, 1, MaxB0255)
	return string(b)
}

// seqCount reads a sequence count (1 or 2 bytes) and checks that count
// elements of at least minElem bytes each fit in the remaining input, so the
// caller may allocate count elements.
func (d *Decoder) seqCount(field string, prefixLen, minElem int) int {
	var n int
	if prefixLen == 1 {
		n = int(d.U8(field))
	} else {
		n = int(d.U16(field))
	}
	if d.err != nil {
		return 0
	}
	if n*minElem > d.Remaining() {
		d.fail(field, ErrShortBuffer, fmt.Sprintf("%d elements of ≥%d bytes, have %d bytes", n, minElem, d.Remaining()))
		return 0
	}
	return n
}

// Seq0255U256 reads a SEQ0_255[U256].
func (d *Decoder) Seq0255U256(field string) [][32]byte { return d.seqU256(field, 1) }

// Seq064KU256 reads a SEQ0_64K[U256].
func (d *Decoder) Seq064KU256(field string) [][32]byte { return d.seqU256(field, 2) }

func (d *Decoder) seqU256(field string, prefixLen int) [][32]byte {
	n := d.seqCount(field, prefixLen, 32)
	if d.err != nil || n == 0 {
		return nil
	}
	out := make([][32]byte, n)
	for i := range out {
		out[i] = d.U256(field)
	}
	return out
}

// Seq064KU16 reads a SEQ0_64K[U16].
func (d *Decoder) Seq064KU16(field string) []uint16 {
	n := d.seqCount(field, 2, 2)
	if d.err != nil || n == 0 {
		return nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = d.U16(field)
	}
	return out
}

// Seq064KU32 reads a SEQ0_64K[U32].
func (d *Decoder) Seq064KU32(field string) []uint32 {
	n := d.seqCount(field, 2, 4)
	if d.err != nil || n == 0 {
		return nil
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = d.U32(field)
	}
	return out
}

// Seq064KB016M reads a SEQ0_64K[B0_16M].
func (d *Decoder) Seq064KB016M(field string) [][]byte {
	n := d.seqCount(field, 2, 3)
	if d.err != nil || n == 0 {
		return nil
	}
	out := make([][]byte, n)
	for i := range out {
		out[i] = d.B016M(field)
	}
	return out
}

// OptionU32 reads an OPTION[U32] (SEQ0_1: 0x00, or 0x01 ‖ U32). It returns
// nil for None.
func (d *Decoder) OptionU32(field string) *uint32 {
	switch tag := d.U8(field); {
	case d.err != nil:
		return nil
	case tag == 0:
		return nil
	case tag == 1:
		v := d.U32(field)
		if d.err != nil {
			return nil
		}
		return &v
	default:
		d.fail(field, ErrInvalidValue, fmt.Sprintf("option tag %d", tag))
		return nil
	}
}

// Encoder appends fields to a byte slice. It records the first error (a value
// too long for its type) and ignores later writes; check Err, or use Bytes.
type Encoder struct {
	buf []byte
	msg string
	err error
}

// NewEncoder returns an Encoder appending to dst; msg names the message in
// errors.
func NewEncoder(dst []byte, msg string) *Encoder { return &Encoder{buf: dst, msg: msg} }

// Bytes returns the encoded bytes, or the first error.
func (e *Encoder) Bytes() ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.buf, nil
}

// Err returns the first error encountered, if any.
func (e *Encoder) Err() error { return e.err }

func (e *Encoder) fail(field string, err error, detail string) {
	if e.err == nil {
		e.err = &FieldError{Message: e.msg, Field: field, Err: err, Detail: detail}
	}
}

// U8 appends a byte.
func (e *Encoder) U8(v uint8) { e.buf = append(e.buf, v) }

// Bool appends a BOOL as 0x00 or 0x01.
func (e *Encoder) Bool(v bool) {
	if v {
		e.U8(1)
	} else {
		e.U8(0)
	}
}

// U16 appends a little-endian uint16.
func (e *Encoder) U16(v uint16) { e.buf = binary.LittleEndian.AppendUint16(e.buf, v) }

// U24 appends a little-endian 24-bit integer; values above MaxU24 fail with
// ErrTooLong.
func (e *Encoder) U24(field string, v uint32) {
	if v > MaxU24 {
		e.fail(field, ErrTooLong, fmt.Sprintf("value %d exceeds U24", v))
		return
	}
	e.buf = append(e.buf, byte(v), byte(v>>8), byte(v>>16))
}

// U32 appends a little-endian uint32.
func (e *Encoder) U32(v uint32) { e.buf = binary.LittleEndian.AppendUint32(e.buf, v) }

// U64 appends a little-endian uint64.
func (e *Encoder) U64(v uint64) { e.buf = binary.LittleEndian.AppendUint64(e.buf, v) }

// F32 appends a little-endian IEEE-754 float32.
func (e *Encoder) F32(v float32) { e.U32(math.Float32bits(v)) }

// U256 appends 32 raw bytes.
func (e *Encoder) U256(v U256) { e.buf = append(e.buf, v[:]...) }

// PubKey appends a 32-byte x-only key.
func (e *Encoder) PubKey(v PubKey) { e.U256(v) }

// Signature appends a 64-byte signature.
func (e *Encoder) Signature(v Signature) { e.buf = append(e.buf, v[:]...) }

func (e *Encoder) bytesN(field string, prefixLen, maxLen int, b []byte) {
	if len(b) > maxLen {
		e.fail(field, ErrTooLong, fmt.Sprintf("length %d, max %d", len(b), maxLen))
		return
	}
	switch prefixLen {
	case 1:
		e.U8(uint8(len(b)))
	case 2:
		e.U16(uint16(len(b)))
	default:
		e.U24(field, uint32(len(b)))
	}
	e.buf = append(e.buf, b...)
}

// B032 appends a B0_32.
func (e *Encoder) B032(field string, b []byte) { e.bytesN(field, 1, MaxB032, b) }

// B0255 appends a B0_255.
func (e *Encoder) B0255(field string, b []byte) { e.bytesN(field, 1, MaxB0255, b) }

// B064K appends a B0_64K.
func (e *Encoder) B064K(field string, b []byte) { e.bytesN(field, 2, MaxB064K, b) }

// B016M appends a B0_16M.
func (e *Encoder) B016M(field string, b []byte) { e.bytesN(field, 3, MaxB016M, b) }

// Str0255 appends a STR0_255.
func (e *Encoder) Str0255(field string, s string) {
	if len(s) > MaxB0255 {
		e.fail(field, ErrTooLong, fmt.Sprintf("length %d, max %d", len(s), MaxB0255))
		return
	}
	e.U8(uint8(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *Encoder) seqCount(field string, prefixLen, n int) bool {
	max := MaxSeq0255
	if prefixLen == 2 {
		max = MaxSeq064K
	}
	if n > max {
		e.fail(field, ErrTooLong, fmt.Sprintf("%d elements, max %d", n, max))
		return false
	}
	if prefixLen == 1 {
		e.U8(uint8(n))
	} else {
		e.U16(uint16(n))
	}
	return true
}

// Seq0255U256 appends a SEQ0_255[U256].
func (e *Encoder) Seq0255U256(field string, v [][32]byte) {
	if e.seqCount(field, 1, len(v)) {
		for _, x := range v {
			e.U256(x)
		}
	}
}

// Seq064KU256 appends a SEQ0_64K[U256].
func (e *Encoder) Seq064KU256(field string, v [][32]byte) {
	if e.seqCount(field, 2, len(v)) {
		for _, x := range v {
			e.U256(x)
		}
	}
}

// Seq064KU16 appends a SEQ0_64K[U16].
func (e *Encoder) Seq064KU16(field string, v []uint16) {
	if e.seqCount(field, 2, len(v)) {
		for _, x := range v {
			e.U16(x)
		}
	}
}

// Seq064KU32 appends a SEQ0_64K[U32].
func (e *Encoder) Seq064KU32(field string, v []uint32) {
	if e.seqCount(field, 2, len(v)) {
		for _, x := range v {
			e.U32(x)
		}
	}
}

// Seq064KB016M appends a SEQ0_64K[B0_16M].
func (e *Encoder) Seq064KB016M(field string, v [][]byte) {
	if e.seqCount(field, 2, len(v)) {
		for _, x := range v {
			e.B016M(field, x)
		}
	}
}

// OptionU32 appends an OPTION[U32]; nil encodes None.
func (e *Encoder) OptionU32(v *uint32) {
	if v == nil {
		e.U8(0)
		return
	}
	e.U8(1)
	e.U32(*v)
}
