package jd

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/adit-pool/adit/share"
)

// Consensus limits used by the checks.
const (
	// MaxBlockWeight is BIP141's block weight limit.
	MaxBlockWeight = 4_000_000
	// MinTxWeight is the weight of the smallest possible transaction (Core's
	// MIN_TRANSACTION_WEIGHT, 4 × 60 bytes); MaxBlockWeight / MinTxWeight
	// bounds how many transactions a block can hold.
	MinTxWeight = 240
	// MaxMoney is 21 million BTC in satoshis: no output, and no sum of
	// outputs, may exceed it.
	MaxMoney = 21_000_000 * 100_000_000
)

// errTxFormat is wrapped by every serialization error of parseTx.
var errTxFormat = errors.New("malformed transaction")

// byteReader reads Bitcoin serialization, checking every length before use.
// The first error sticks; later reads return zero values.
type byteReader struct {
	b   []byte
	off int
	err error
}

func (r *byteReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{errTxFormat}, args...)...)
	}
}

func (r *byteReader) left() int { return len(r.b) - r.off }

func (r *byteReader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > r.left() {
		r.fail("%s: need %d bytes at offset %d, have %d", what, n, r.off, r.left())
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *byteReader) u32(what string) uint32 {
	if b := r.take(4, what); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *byteReader) u64(what string) uint64 {
	if b := r.take(8, what); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// varint reads a CompactSize, refusing non-canonical encodings (as Core's
// ReadCompactSize does) and values above max.
func (r *byteReader) varint(what string, max uint64) uint64 {
	b := r.take(1, what)
	if b == nil {
		return 0
	}
	var v, least uint64
	switch b[0] {
	case 0xfd:
		if x := r.take(2, what); x != nil {
			v, least = uint64(binary.LittleEndian.Uint16(x)), 0xfd
		}
	case 0xfe:
		if x := r.take(4, what); x != nil {
			v, least = uint64(binary.LittleEndian.Uint32(x)), 0x10000
		}
	case 0xff:
		if x := r.take(8, what); x != nil {
			v, least = binary.LittleEndian.Uint64(x), 0x100000000
		}
	default:
		return uint64(b[0])
	}
	switch {
	case r.err != nil:
		return 0
	case v < least:
		r.fail("%s: non-canonical CompactSize %d", what, v)
		return 0
	case v > max:
		r.fail("%s: %d exceeds %d", what, v, max)
		return 0
	}
	return v
}

// count reads a CompactSize element count and checks that count elements
// of at least minElem bytes fit in what is left, so it may be allocated.
func (r *byteReader) count(what string, minElem int) int {
	n := r.varint(what, uint64(r.left()/minElem))
	return int(n)
}

// varBytes reads a CompactSize-prefixed byte string.
func (r *byteReader) varBytes(what string) []byte {
	n := r.varint(what, uint64(r.left()))
	return r.take(int(n), what)
}

// txOut is one transaction output.
type txOut struct {
	Value  int64
	Script []byte
}

// readOutputs reads a CompactSize count and that many outputs, with values
// and their sum checked against MaxMoney.
func (r *byteReader) readOutputs() (outs []txOut, sum int64) {
	n := r.count("output count", 9)
	if r.err != nil {
		return nil, 0
	}
	outs = make([]txOut, 0, n)
	sum = r.outputs(n, func(o txOut) { outs = append(outs, o) })
	if r.err != nil {
		return nil, 0
	}
	return outs, sum
}

// skipOutputs is readOutputs without keeping the outputs (no allocation):
// it returns how many there were.
func (r *byteReader) skipOutputs() int {
	n := r.count("output count", 9)
	r.outputs(n, nil)
	if r.err != nil {
		return 0
	}
	return n
}

// outputs reads n outputs, checking the values and their sum against
// MaxMoney, and hands each to keep when keep is not nil.
func (r *byteReader) outputs(n int, keep func(txOut)) (sum int64) {
	for range n {
		v := r.u64("output value")
		script := r.varBytes("output script")
		if r.err != nil {
			return 0
		}
		if v > MaxMoney || sum+int64(v) > MaxMoney {
			r.fail("output value %d: outputs exceed 21M BTC", v)
			return 0
		}
		sum += int64(v)
		if keep != nil {
			keep(txOut{Value: int64(v), Script: script})
		}
	}
	return sum
}

// readWitness reads one input's witness stack.
func (r *byteReader) readWitness() {
	for range r.count("witness item count", 1) {
		r.varBytes("witness item")
	}
}

// tx is a parsed transaction: enough to hash it, weigh it and tell a
// coinbase.
type tx struct {
	Raw      []byte
	TxID     [32]byte // sha256d of the non-witness serialization
	WTxID    [32]byte // sha256d of Raw (equal to TxID without witness)
	Witness  bool     // BIP141 marker and flag present
	Coinbase bool     // one input spending the null outpoint
	BaseSize int      // non-witness size
}

// Weight is the BIP141 weight of the transaction.
func (t *tx) Weight() int { return 3*t.BaseSize + len(t.Raw) }

// parseTx parses one whole transaction (witness serialization allowed) and
// refuses trailing bytes.
func parseTx(raw []byte) (*tx, error) {
	r := &byteReader{b: raw}
	r.u32("version")
	t := &tx{Raw: raw}
	if r.err == nil && r.left() >= 2 && raw[4] == 0 {
		if raw[5] != 1 {
			return nil, fmt.Errorf("%w: segwit flag %#x", errTxFormat, raw[5])
		}
		t.Witness = true
		r.off += 2
	}
	bodyStart := r.off
	nIn := r.count("input count", 41)
	if r.err == nil && nIn == 0 {
		r.fail("no inputs")
	}
	for i := range nIn {
		prev := r.take(36, "outpoint")
		r.varBytes("scriptSig")
		r.u32("sequence")
		if r.err == nil && i == 0 && nIn == 1 && isNullOutpoint(prev) {
			t.Coinbase = true
		}
	}
	nOut := r.skipOutputs()
	if r.err == nil && nOut == 0 {
		r.fail("no outputs")
	}
	bodyEnd := r.off
	if t.Witness {
		empty := true
		for range nIn {
			w := r.off
			r.readWitness()
			empty = empty && r.off-w == 1
		}
		if r.err == nil && empty {
			r.fail("superfluous witness record")
		}
	}
	r.u32("locktime")
	if r.err == nil && r.left() != 0 {
		r.fail("%d trailing bytes", r.left())
	}
	if r.err != nil {
		return nil, r.err
	}
	t.WTxID = share.DoubleSHA256(raw)
	if !t.Witness {
		t.TxID, t.BaseSize = t.WTxID, len(raw)
		return t, nil
	}
	t.TxID = strippedHash(raw[:4], raw[bodyStart:bodyEnd], raw[len(raw)-4:])
	t.BaseSize = 4 + bodyEnd - bodyStart + 4
	return t, nil
}

// strippedHash is sha256d of the concatenated parts.
func strippedHash(parts ...[]byte) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var first [32]byte
	h.Sum(first[:0])
	return sha256.Sum256(first[:])
}

func isNullOutpoint(p []byte) bool {
	for _, b := range p[:32] {
		if b != 0 {
			return false
		}
	}
	return binary.LittleEndian.Uint32(p[32:]) == 0xffffffff
}
