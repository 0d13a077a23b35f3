package stratum

import (
	"io"
	"net"
)

// batchWriter gathers queued lines and writes them with one writev. Lines are
// immutable shared buffers (the notify cache), so they are never copied.
type batchWriter struct {
	w    io.Writer
	bufs net.Buffers
	keep [16][]byte
}

func newBatchWriter(w io.Writer) *batchWriter {
	b := &batchWriter{w: w}
	b.bufs = b.keep[:0]
	return b
}

func (b *batchWriter) add(msg []byte) { b.bufs = append(b.bufs, msg) }

func (b *batchWriter) flush() error {
	bufs := b.bufs
	_, err := bufs.WriteTo(b.w)
	clear(b.keep[:])
	b.bufs = b.keep[:0]
	return err
}
