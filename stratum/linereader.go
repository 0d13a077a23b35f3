package stratum

import (
	"bytes"
	"errors"
	"io"
)

// ErrLineTooLong is returned by LineReader.ReadLine when a line exceeds the
// configured maximum. It is sticky: every later call returns it too, and the
// caller is expected to drop the connection.
var ErrLineTooLong = errors.New("stratum: line too long")

// LineReader reads newline-terminated lines from an io.Reader with a bounded
// buffer. It tolerates lines split across reads at any byte, strips a trailing
// "\r" and skips empty lines. It is not safe for concurrent use.
type LineReader struct {
	r       io.Reader
	max     int
	buf     []byte
	start   int // first unconsumed byte
	end     int // end of buffered data
	scanned int // bytes of buf[start:end] already searched for '\n'
	err     error
}

// minLineBuf is the initial buffer size; it grows up to max+2 bytes.
const minLineBuf = 4096

// NewLineReader returns a LineReader over r accepting lines of at most max
// bytes, not counting the terminating "\n" (a preceding "\r" counts).
// max < 1 is treated as 1.
func NewLineReader(r io.Reader, max int) *LineReader {
	if max < 1 {
		max = 1
	}
	size := minLineBuf
	if max+1 < size {
		size = max + 1
	}
	return &LineReader{r: r, max: max, buf: make([]byte, size)}
}

// ReadLine returns the next non-empty line without its terminator. The
// returned slice aliases the internal buffer and is valid only until the next
// call. At end of input it returns io.EOF, or io.ErrUnexpectedEOF when a
// partial line is pending; a line longer than max yields ErrLineTooLong.
// Read errors (including deadline errors) are returned as they are.
func (lr *LineReader) ReadLine() ([]byte, error) {
	for {
		line, err := lr.next()
		if err != nil {
			return nil, err
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > 0 {
			return line, nil
		}
	}
}

// next returns the next line (possibly empty) including any trailing '\r'.
func (lr *LineReader) next() ([]byte, error) {
	if lr.err != nil {
		return nil, lr.err
	}
	for {
		pending := lr.buf[lr.start:lr.end]
		if i := bytes.IndexByte(pending[lr.scanned:], '\n'); i >= 0 {
			n := lr.scanned + i
			if n > lr.max {
				lr.err = ErrLineTooLong
				return nil, lr.err
			}
			line := pending[:n]
			lr.start += n + 1
			lr.scanned = 0
			return line, nil
		}
		lr.scanned = len(pending)
		if len(pending) > lr.max {
			lr.err = ErrLineTooLong
			return nil, lr.err
		}
		if err := lr.fill(); err != nil {
			if err == io.EOF && lr.end > lr.start {
				err = io.ErrUnexpectedEOF
			}
			lr.err = err
			return nil, err
		}
	}
}

// fill makes room in the buffer and reads at least one byte or fails.
func (lr *LineReader) fill() error {
	if lr.start > 0 {
		lr.end = copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.start = 0
	}
	if lr.end == len(lr.buf) {
		// Full of one partial line that is still within max: grow, bounded
		// by max+2 (the line, one byte that proves it too long or a '\n').
		size := 2 * len(lr.buf)
		if size > lr.max+2 {
			size = lr.max + 2
		}
		nb := make([]byte, size)
		copy(nb, lr.buf[:lr.end])
		lr.buf = nb
	}
	for empty := 0; ; empty++ {
		n, err := lr.r.Read(lr.buf[lr.end:])
		lr.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
		if empty >= 100 {
			return io.ErrNoProgress
		}
	}
}
