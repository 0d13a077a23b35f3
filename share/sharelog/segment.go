package sharelog

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Segment file layout: a 32-byte header, then framed records.
//
//	0   [8]   magic "ADITSLG1" (the final byte is the segment format version)
//	8   u64   segment sequence number (LE), equal to the number in the file name
//	16  [16]  log id: random, shared by every segment of one log directory
const (
	headerSize = 32
	segSuffix  = ".seg"
)

var segMagic = [8]byte{'A', 'D', 'I', 'T', 'S', 'L', 'G', '1'}

// Position addresses a byte in the log: a segment sequence number and an
// offset inside that segment. The position of a record is where its frame
// starts; a reader's position is just past the last record it returned. The
// zero Position means "the beginning of the log".
type Position struct {
	Segment uint64
	Offset  int64
}

// Less reports whether p is before q.
func (p Position) Less(q Position) bool {
	if p.Segment != q.Segment {
		return p.Segment < q.Segment
	}
	return p.Offset < q.Offset
}

func (p Position) String() string { return fmt.Sprintf("%d:%d", p.Segment, p.Offset) }

// CorruptError reports a record that failed its length or checksum check, or
// a damaged segment header, at a position readers must not pass silently.
type CorruptError struct {
	Pos    Position
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("sharelog: corrupt record at %v: %s", e.Pos, e.Reason)
}

// errTorn is returned by readFrame for a frame cut short by end of file.
var errTorn = errors.New("torn frame")

func segName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, segSuffix) }

func segPath(dir string, seq uint64) string { return filepath.Join(dir, segName(seq)) }

// listSegments returns the sequence numbers of the segment files in dir,
// ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, segSuffix) || len(name) != 20+len(segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs, nil
}

func encodeHeader(seq uint64, logID [16]byte) []byte {
	h := make([]byte, headerSize)
	copy(h, segMagic[:])
	binary.LittleEndian.PutUint64(h[8:], seq)
	copy(h[16:], logID[:])
	return h
}

// parseHeader checks a segment header and returns its log id.
func parseHeader(h []byte, seq uint64) ([16]byte, error) {
	var id [16]byte
	if len(h) < headerSize {
		return id, fmt.Errorf("short header (%d bytes)", len(h))
	}
	if !bytes.Equal(h[:8], segMagic[:]) {
		return id, fmt.Errorf("bad magic %q", h[:8])
	}
	if got := binary.LittleEndian.Uint64(h[8:]); got != seq {
		return id, fmt.Errorf("header says segment %d", got)
	}
	copy(id[:], h[16:32])
	return id, nil
}

func logIDString(id [16]byte) string { return hex.EncodeToString(id[:]) }

// readFrame reads one frame from r into buf (grown as needed) and returns
// the payload. It returns io.EOF at a clean end, errTorn for a frame cut
// short, and a reason string for a frame whose length or crc is wrong.
func readFrame(r io.Reader, buf []byte) (payload, grown []byte, reason string, err error) {
	var hdr [frameHeaderSize]byte
	n, err := io.ReadFull(r, hdr[:])
	if err == io.EOF {
		return nil, buf, "", io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return nil, buf, fmt.Sprintf("%d-byte frame header", n), errTorn
	}
	if err != nil {
		return nil, buf, "", err
	}
	size := binary.LittleEndian.Uint32(hdr[:4])
	if size < minPayload || size > maxPayload {
		return nil, buf, fmt.Sprintf("length %d out of range [%d, %d]", size, minPayload, maxPayload), nil
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size, max(int(size), 4096))
	}
	p := buf[:size]
	if n, err := io.ReadFull(r, p); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return nil, buf, fmt.Sprintf("payload cut at %d of %d bytes", n, size), errTorn
		}
		return nil, buf, "", err
	}
	if got, want := crc32.Checksum(p, castagnoli), binary.LittleEndian.Uint32(hdr[4:]); got != want {
		return nil, buf, fmt.Sprintf("crc %08x, want %08x", got, want), nil
	}
	return p, buf, "", nil
}
