package sharelog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/adit-pool/adit/share"
)

// Record framing: every record in a segment is
//
//	length  u32 LE   payload length in bytes
//	crc     u32 LE   CRC-32C (Castagnoli) of the payload
//	payload          the encoded share.Record, see below
//
// Payload, version 2 (all integers little-endian):
//
//	0   u8    version (2)
//	1   u64   id
//	9   i64   time, Unix nanoseconds (UTC)
//	17  u8    protocol
//	18  u8    flags (bit 0: block, bit 1: declared job)
//	19  u32   job id
//	23  i64   height
//	31  f64   assigned difficulty
//	39  f64   reached difficulty
//	47  f64   network difficulty
//	55  [32]  header hash
//	87  4 × (u16 length ‖ bytes): instance, address, worker, remote address
//
// Version 1 is the same layout with flag bit 0 only (no declared jobs); it
// is still read, as a record with Declared false, and never written. Any
// other version or an unknown flag bit is an error, so an older reader
// refuses a newer record instead of dropping what it cannot represent.
const (
	flagBlock    = 1 << 0
	flagDeclared = 1 << 1
)

const (
	frameHeaderSize = 8
	payloadVersion  = 2
	fixedPayload    = 87
	idOffset        = 1 // offset of the id inside the payload
	minPayload      = fixedPayload + 4*2
	// MaxStringLen bounds each string field of a record (instance, address,
	// worker, remote address) in bytes.
	MaxStringLen = 1024
	maxPayload   = minPayload + 4*MaxStringLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrInvalidRecord is returned (wrapped, with the reason) for a record that
// cannot be logged: zero time, an over-long string, a time outside the
// encodable range.
var ErrInvalidRecord = errors.New("sharelog: invalid record")

// ErrBadPayload is returned (wrapped) by DecodeRecord for a payload that is
// not a valid version-1 or version-2 record.
var ErrBadPayload = errors.New("sharelog: bad record payload")

// minTime and maxTime bound what fits in int64 Unix nanoseconds.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// checkRecord validates rec for encoding.
func checkRecord(rec *share.Record) error {
	if rec.Time.IsZero() {
		return fmt.Errorf("%w: zero time", ErrInvalidRecord)
	}
	if rec.Time.Before(minTime) || rec.Time.After(maxTime) {
		return fmt.Errorf("%w: time %v out of range", ErrInvalidRecord, rec.Time)
	}
	for _, s := range [...]string{rec.Instance, rec.Worker.Address, rec.Worker.Name, rec.RemoteAddr} {
		if len(s) > MaxStringLen {
			return fmt.Errorf("%w: string field of %d bytes (max %d)", ErrInvalidRecord, len(s), MaxStringLen)
		}
	}
	return nil
}

// payloadSize is the encoded payload size of a checked record.
func payloadSize(rec *share.Record) int {
	return minPayload + len(rec.Instance) + len(rec.Worker.Address) + len(rec.Worker.Name) + len(rec.RemoteAddr)
}

// AppendRecord appends rec's version-2 payload (not framed) to dst. The
// record must have passed validation (string lengths ≤ MaxStringLen, time
// representable); AppendRecord does no I/O and does not allocate beyond
// growing dst.
func AppendRecord(dst []byte, rec *share.Record) []byte {
	var fixed [fixedPayload]byte
	fixed[0] = payloadVersion
	binary.LittleEndian.PutUint64(fixed[1:], rec.ID)
	binary.LittleEndian.PutUint64(fixed[9:], uint64(rec.Time.UnixNano()))
	fixed[17] = byte(rec.Protocol)
	if rec.Block {
		fixed[18] |= flagBlock
	}
	if rec.Declared {
		fixed[18] |= flagDeclared
	}
	binary.LittleEndian.PutUint32(fixed[19:], rec.JobID)
	binary.LittleEndian.PutUint64(fixed[23:], uint64(rec.Height))
	binary.LittleEndian.PutUint64(fixed[31:], math.Float64bits(rec.AssignedDifficulty))
	binary.LittleEndian.PutUint64(fixed[39:], math.Float64bits(rec.ReachedDifficulty))
	binary.LittleEndian.PutUint64(fixed[47:], math.Float64bits(rec.NetworkDifficulty))
	copy(fixed[55:], rec.Hash[:])
	dst = append(dst, fixed[:]...)
	dst = appendString(dst, rec.Instance)
	dst = appendString(dst, rec.Worker.Address)
	dst = appendString(dst, rec.Worker.Name)
	dst = appendString(dst, rec.RemoteAddr)
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// appendFrame appends a framed record with a zero crc; the writer fills in
// the id and crc (sealFrame) when it orders the batch.
func appendFrame(dst []byte, rec *share.Record) []byte {
	n := payloadSize(rec)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = binary.LittleEndian.AppendUint32(dst, 0)
	return AppendRecord(dst, rec)
}

// sealFrame stores id in a frame built by appendFrame and computes its crc.
func sealFrame(frame []byte, id uint64) {
	p := frame[frameHeaderSize:]
	binary.LittleEndian.PutUint64(p[idOffset:], id)
	binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(p, castagnoli))
}

// Decoder decodes payloads into records. It remembers the last strings it
// produced and reuses them when the next record repeats them, so a stream
// of shares from the same instance and worker does not allocate for them.
// The zero value is ready; a Decoder is not safe for concurrent use.
type Decoder struct {
	instance, address, worker, remote string
}

// Decode decodes a version-2 or version-1 payload into rec. Every length is
// checked before use and trailing bytes are rejected.
func (d *Decoder) Decode(p []byte, rec *share.Record) error {
	if len(p) < minPayload {
		return fmt.Errorf("%w: %d bytes, need at least %d", ErrBadPayload, len(p), minPayload)
	}
	if len(p) > maxPayload {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadPayload, len(p), maxPayload)
	}
	var flags byte
	switch p[0] {
	case 1:
		flags = flagBlock
	case payloadVersion:
		flags = flagBlock | flagDeclared
	default:
		return fmt.Errorf("%w: unknown version %d", ErrBadPayload, p[0])
	}
	if p[18]&^flags != 0 {
		return fmt.Errorf("%w: unknown flags %#x for version %d", ErrBadPayload, p[18], p[0])
	}
	rec.ID = binary.LittleEndian.Uint64(p[1:])
	rec.Time = time.Unix(0, int64(binary.LittleEndian.Uint64(p[9:]))).UTC()
	rec.Protocol = share.Protocol(p[17])
	rec.Block = p[18]&flagBlock != 0
	rec.Declared = p[18]&flagDeclared != 0
	rec.JobID = binary.LittleEndian.Uint32(p[19:])
	rec.Height = int64(binary.LittleEndian.Uint64(p[23:]))
	rec.AssignedDifficulty = math.Float64frombits(binary.LittleEndian.Uint64(p[31:]))
	rec.ReachedDifficulty = math.Float64frombits(binary.LittleEndian.Uint64(p[39:]))
	rec.NetworkDifficulty = math.Float64frombits(binary.LittleEndian.Uint64(p[47:]))
	copy(rec.Hash[:], p[55:87])
	rest := p[fixedPayload:]
	var ok bool
	if rec.Instance, rest, ok = d.str(rest, &d.instance); !ok {
		return fmt.Errorf("%w: instance overruns payload", ErrBadPayload)
	}
	if rec.Worker.Address, rest, ok = d.str(rest, &d.address); !ok {
		return fmt.Errorf("%w: address overruns payload", ErrBadPayload)
	}
	if rec.Worker.Name, rest, ok = d.str(rest, &d.worker); !ok {
		return fmt.Errorf("%w: worker overruns payload", ErrBadPayload)
	}
	if rec.RemoteAddr, rest, ok = d.str(rest, &d.remote); !ok {
		return fmt.Errorf("%w: remote address overruns payload", ErrBadPayload)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrBadPayload, len(rest))
	}
	return nil
}

func (d *Decoder) str(p []byte, last *string) (string, []byte, bool) {
	if len(p) < 2 {
		return "", nil, false
	}
	n := int(binary.LittleEndian.Uint16(p))
	p = p[2:]
	if n > MaxStringLen || n > len(p) {
		return "", nil, false
	}
	b := p[:n]
	if string(b) != *last {
		*last = string(b)
	}
	return *last, p[n:], true
}

// DecodeRecord decodes one payload into rec (see Decoder.Decode).
func DecodeRecord(p []byte, rec *share.Record) error {
	var d Decoder
	return d.Decode(p, rec)
}
