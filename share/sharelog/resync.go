package sharelog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"

	"github.com/adit-pool/adit/share"
)

// ErrNoIntact is returned (wrapped) by NextIntact when the damage is in the
// newest segment and no intact record follows it there: the rest of the
// log is a torn tail, which Open cuts off.
var ErrNoIntact = errors.New("sharelog: no intact record after the damage")

// SegmentFile is one segment file of a log directory.
type SegmentFile struct {
	Seq  uint64 // sequence number, as in the file name
	Size int64  // bytes, header included
}

// Segments lists the segment files in dir, oldest first, with the log id
// (hex) from the oldest one's header. It takes no lock and changes nothing,
// so it may run beside the daemon. An empty directory (or one holding no
// segments) returns no segments and an empty id.
func Segments(dir string) (logID string, segs []SegmentFile, err error) {
	seqs, err := listSegments(dir)
	if err != nil {
		return "", nil, fmt.Errorf("sharelog: segments: %w", err)
	}
	for _, seq := range seqs {
		fi, err := os.Stat(segPath(dir, seq))
		if err != nil {
			return "", nil, fmt.Errorf("sharelog: segments: %w", err)
		}
		segs = append(segs, SegmentFile{Seq: seq, Size: fi.Size()})
	}
	if len(segs) == 0 {
		return "", nil, nil
	}
	id, err := readHeader(dir, segs[0].Seq)
	if err != nil {
		return "", segs, err
	}
	return logIDString(id), segs, nil
}

// NextIntact returns where reading can resume after the damaged record at
// at (a position a Reader reported in a *CorruptError): the position of the
// first intact record after at in at's segment or, when the rest of that
// segment holds none, the start of the next segment (whose records are not
// checked here; a Reader reports their damage as usual). at must be a
// position in a segment of dir; the log is only read, never locked or
// changed.
//
// Resynchronisation: a frame is intact when its length is in range, its
// CRC-32C matches and its payload decodes, and it is confirmed: it ends
// exactly at the end of its segment, or the frame after it is intact as
// well and carries the next id. The damaged frame's own length is tried
// first (bit rot usually hits the payload, leaving the length intact, and
// this never lands inside the damaged record); failing that, every byte
// offset after at is tried in order. Resynchronising inside a segment loses
// only the damaged records, where jumping to the next segment would lose up
// to a whole segment (64 MiB, hundreds of thousands of shares) of intact
// ones. A false match needs a 32-bit checksum, a valid payload and a
// confirming successor to line up by chance.
//
// When at is in the newest segment and nothing intact follows it there,
// NextIntact returns ErrNoIntact: there is no next segment to resume at.
func NextIntact(dir string, at Position) (Position, error) {
	seqs, err := listSegments(dir)
	if err != nil {
		return Position{}, fmt.Errorf("sharelog: resync: %w", err)
	}
	if len(seqs) == 0 || at.Segment < seqs[0] || at.Segment > seqs[len(seqs)-1] {
		return Position{}, fmt.Errorf("sharelog: resync: segment %d is not in %s", at.Segment, dir)
	}
	data, err := os.ReadFile(segPath(dir, at.Segment))
	if err != nil {
		return Position{}, fmt.Errorf("sharelog: resync: %w", err)
	}
	if at.Offset < headerSize || at.Offset > int64(len(data)) {
		return Position{}, fmt.Errorf("sharelog: resync: offset %d outside segment %d (%d bytes)", at.Offset, at.Segment, len(data))
	}
	if off, ok := resync(data, int(at.Offset)); ok {
		return Position{Segment: at.Segment, Offset: int64(off)}, nil
	}
	if at.Segment == seqs[len(seqs)-1] {
		return Position{}, fmt.Errorf("%w: %v is in the newest segment", ErrNoIntact, at)
	}
	return Position{Segment: at.Segment + 1, Offset: headerSize}, nil
}

// resync returns the offset of the first confirmed intact frame after the
// damaged frame at at in the segment data, or false if there is none.
func resync(data []byte, at int) (int, bool) {
	if at+frameHeaderSize <= len(data) {
		n := binary.LittleEndian.Uint32(data[at:])
		if n >= minPayload && n <= maxPayload {
			next := at + frameHeaderSize + int(n)
			if next == len(data) {
				return 0, false // the damaged frame was the segment's last
			}
			if confirmed(data, next) {
				return next, true
			}
		}
	}
	for off := at + 1; off+frameHeaderSize+minPayload <= len(data); off++ {
		if confirmed(data, off) {
			return off, true
		}
	}
	return 0, false
}

// confirmed reports whether the frame at off is intact and either ends the
// segment or is followed by an intact frame with the next id.
func confirmed(data []byte, off int) bool {
	end, id, ok := intactFrame(data, off)
	if !ok {
		return false
	}
	if end == len(data) {
		return true
	}
	_, nextID, ok := intactFrame(data, end)
	return ok && nextID == id+1
}

// intactFrame checks the frame at off: length in range, checksum, payload
// decodes. It returns the frame's end and its record id.
func intactFrame(data []byte, off int) (end int, id uint64, ok bool) {
	if off < 0 || off+frameHeaderSize > len(data) {
		return 0, 0, false
	}
	n := int(binary.LittleEndian.Uint32(data[off:]))
	if n < minPayload || n > maxPayload || off+frameHeaderSize+n > len(data) {
		return 0, 0, false
	}
	p := data[off+frameHeaderSize : off+frameHeaderSize+n]
	if crc32.Checksum(p, castagnoli) != binary.LittleEndian.Uint32(data[off+4:]) {
		return 0, 0, false
	}
	var rec share.Record
	if DecodeRecord(p, &rec) != nil {
		return 0, 0, false
	}
	return off + frameHeaderSize + n, rec.ID, true
}
