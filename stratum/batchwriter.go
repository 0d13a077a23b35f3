package stratum

import (
	"io"
	"net"
)

// batchWriter gathers queued lines and writes them with one writev. Lines are
// immutable shared buffers (the notify cache), so they are never copied. A
// batch holds at most the send queue's size (sendq.Writer), so the slice a
// large batch grows is kept for the next.
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
	clear(b.bufs) // WriteTo consumed its copy; drop the references
	b.bufs = b.bufs[:0]
	return err
}
