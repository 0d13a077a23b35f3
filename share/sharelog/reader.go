package sharelog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
)

// ErrPositionAhead is returned when a reader is asked to start past the end
// of the durable log (a position from another log, or a log that lost data
// it had acknowledged).
var ErrPositionAhead = errors.New("sharelog: position is past the end of the log")

// ErrPositionGone is returned when a reader is asked to start in a segment
// that was already deleted.
var ErrPositionGone = errors.New("sharelog: position is in a deleted segment")

const readBufSize = 1 << 20

func newFileReader(f *os.File, off int64) *bufio.Reader {
	return bufio.NewReaderSize(io.NewSectionReader(f, off, unbounded-off), readBufSize)
}

// Reader iterates records in log order from a position. A Reader on a live
// Log (Log.NewReader) never reads past the durable position and so never
// sees a record that is still being written; an offline Reader (OpenReader)
// reads to the end of the newest segment and stops before a torn or
// corrupt tail with a warning. Neither ever returns a record that failed
// its checks. A Reader is not safe for concurrent use; any number of
// Readers may read one Log.
type Reader struct {
	dir  string
	live *Log // nil: offline
	log  *zap.Logger
	last uint64 // offline: newest segment

	f   *os.File
	br  *bufio.Reader
	pos Position
	// limit is where the section behind br ends. A live reader only ever
	// reads durable bytes: its section ends at the durable offset and is
	// renewed when that moves, so bytes a failed batch wrote and rolled
	// back can never sit in its buffer.
	limit int64
	buf   []byte
	dec   Decoder
	end   bool // offline: reached the end (or a torn tail)
	// corrupt is the *CorruptError Next returned, returned again by every
	// later call: its frame has been consumed from br, so reading on would
	// return the records after it at wrong positions.
	corrupt error
}

// NewReader returns a Reader positioned at from. The zero Position means
// the oldest record still on disk. It returns ErrPositionGone or
// ErrPositionAhead for positions outside what is on disk.
func (l *Log) NewReader(from Position) (*Reader, error) {
	l.stateMu.Lock()
	first, durable := l.first, l.durable
	l.stateMu.Unlock()
	r := &Reader{dir: l.dir, live: l, log: l.log}
	return r, r.seek(from, first, durable.Segment, &durable)
}

// OpenReader reads the log in dir without opening it for writing (a replay
// or inspection tool; the daemon may be running). log may be nil.
func OpenReader(dir string, from Position, log *zap.Logger) (*Reader, error) {
	if log == nil {
		log = zap.NewNop()
	}
	seqs, err := listSegments(dir)
	if err != nil {
		return nil, fmt.Errorf("sharelog: reader: %w", err)
	}
	if len(seqs) == 0 {
		return nil, fmt.Errorf("sharelog: reader: no segments in %s", dir)
	}
	r := &Reader{dir: dir, log: log.Named("sharelog"), last: seqs[len(seqs)-1]}
	return r, r.seek(from, seqs[0], r.last, nil)
}

func (r *Reader) seek(from Position, first, last uint64, durable *Position) error {
	if from == (Position{}) {
		from = Position{Segment: first, Offset: headerSize}
	}
	if from.Offset < headerSize {
		from.Offset = headerSize
	}
	if from.Segment < first {
		return fmt.Errorf("%w: %v, oldest segment is %d", ErrPositionGone, from, first)
	}
	if from.Segment > last || (durable != nil && durable.Less(from)) {
		return fmt.Errorf("%w: %v", ErrPositionAhead, from)
	}
	return r.openSegment(from)
}

func (r *Reader) openSegment(pos Position) error {
	f, err := os.Open(segPath(r.dir, pos.Segment))
	if err != nil {
		return fmt.Errorf("sharelog: reader: %w", err)
	}
	if _, err := parseHeaderFile(f, pos.Segment); err != nil {
		f.Close()
		return err
	}
	if r.f != nil {
		r.f.Close()
	}
	r.f, r.pos = f, pos
	if r.br == nil {
		r.br = bufio.NewReaderSize(nil, readBufSize)
	}
	if r.live != nil {
		r.limit = pos.Offset // refilled on the first Next
	} else {
		r.limit = unbounded
		r.br.Reset(io.NewSectionReader(f, pos.Offset, unbounded-pos.Offset))
	}
	return nil
}

const unbounded = 1 << 62

// refill renews a live reader's exhausted section up to what is durable.
func (r *Reader) refill(durable Position) {
	r.limit = unbounded
	if r.pos.Segment == durable.Segment {
		r.limit = durable.Offset
	}
	r.br.Reset(io.NewSectionReader(r.f, r.pos.Offset, r.limit-r.pos.Offset))
}

func parseHeaderFile(f *os.File, seq uint64) ([16]byte, error) {
	h := make([]byte, headerSize)
	n, err := f.ReadAt(h, 0)
	if err != nil && err != io.EOF {
		return [16]byte{}, fmt.Errorf("sharelog: reader: %w", err)
	}
	id, perr := parseHeader(h[:n], seq)
	if perr != nil {
		return id, &CorruptError{Pos: Position{Segment: seq}, Reason: "segment header: " + perr.Error()}
	}
	return id, nil
}

// Position is the position just past the last record returned (where a
// new Reader would continue).
func (r *Reader) Position() Position { return r.pos }

// Next decodes the next record into rec. It returns false and no error
// when there is no further record yet (live: the durable end; offline: the
// end of the log or a torn tail). A *CorruptError means a damaged record
// where none may be; the reader does not move past it: every later call
// returns the same error (sharelog.NextIntact finds where a new Reader can
// resume).
func (r *Reader) Next(rec *share.Record) (bool, error) {
	if r.corrupt != nil {
		return false, r.corrupt
	}
	ok, err := r.next(rec)
	var ce *CorruptError
	if errors.As(err, &ce) {
		r.corrupt = err
	}
	return ok, err
}

func (r *Reader) next(rec *share.Record) (bool, error) {
	for {
		if r.live != nil {
			// Below limit everything is durable; only at the section's end
			// is the log asked how far it may read now.
			if r.pos.Offset >= r.limit {
				durable, _ := r.live.Durable()
				if r.pos.Segment == durable.Segment && r.pos.Offset >= durable.Offset {
					return false, nil
				}
				r.refill(durable)
			}
		} else if r.end {
			return false, nil
		}
		p, buf, reason, err := readFrame(r.br, r.buf)
		r.buf = buf
		switch {
		case err == io.EOF && r.limit != unbounded:
			if r.pos.Offset < r.limit {
				return false, &CorruptError{Pos: r.pos, Reason: "segment ends before the durable position"}
			}
			continue // a live section ended: renew it or report the end
		case err == io.EOF:
			ok, err := r.nextSegment()
			if err != nil || !ok {
				return false, err
			}
			continue
		case err == errTorn || (err == nil && reason != ""):
			if r.live == nil && r.pos.Segment == r.last {
				r.log.Warn("share log tail torn or corrupt, stopping before it",
					zap.Uint64("segment", r.pos.Segment), zap.Int64("offset", r.pos.Offset), zap.String("reason", reason))
				r.end = true
				return false, nil
			}
			return false, &CorruptError{Pos: r.pos, Reason: reason}
		case err != nil:
			return false, fmt.Errorf("sharelog: read %v: %w", r.pos, err)
		}
		if err := r.dec.Decode(p, rec); err != nil {
			return false, &CorruptError{Pos: r.pos, Reason: err.Error()}
		}
		r.pos.Offset += int64(frameHeaderSize + len(p))
		return true, nil
	}
}

// nextSegment moves to the next segment at the end of a sealed one.
func (r *Reader) nextSegment() (bool, error) {
	last := r.last
	if r.live != nil {
		durable, _ := r.live.Durable()
		last = durable.Segment
	}
	if r.pos.Segment >= last {
		if r.live != nil {
			// EOF before the durable end of the newest segment.
			return false, &CorruptError{Pos: r.pos, Reason: "segment ends before the durable position"}
		}
		r.end = true
		return false, nil
	}
	return true, r.openSegment(Position{Segment: r.pos.Segment + 1, Offset: headerSize})
}

// Close releases the reader's file.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
