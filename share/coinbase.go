package share

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Coinbase and job limits.
const (
	// MinScriptSig and MaxScriptSig bound a coinbase scriptSig, extranonce
	// included (consensus, "bad-cb-length").
	MinScriptSig = 2
	MaxScriptSig = 100
	// MaxExtranonceSize is the largest extranonce area a Job may have (the
	// Stratum V2 limit on a full extranonce).
	MaxExtranonceSize = 32
	// MaxMoney is consensus MAX_MONEY in satoshis: no output and no sum of
	// outputs may exceed it.
	MaxMoney int64 = 21_000_000 * 100_000_000
	// MaxMerkleBranch is the longest coinbase merkle path a valid block can
	// have: 4,000,000 weight units hold at most 16,666 transactions of the
	// minimum weight 240, and ceil(log2(16,667)) = 15.
	MaxMerkleBranch = 15
)

// ErrInvalidCoinbase is returned (wrapped, with the reason) for
// CoinbaseParts that cannot form a valid coinbase transaction.
var ErrInvalidCoinbase = errors.New("share: invalid coinbase")

// ErrBadOutputs is returned (wrapped, with the reason and offset) by
// ParseOutputs for bytes that are not exactly one serialized output vector.
var ErrBadOutputs = errors.New("share: bad output vector")

// TxOut is one transaction output.
type TxOut struct {
	Value  int64 // satoshis
	Script []byte
}

// witnessCommitmentHeader starts a BIP141 witness commitment output script:
// OP_RETURN, a 36-byte push, the commitment header aa21a9ed.
var witnessCommitmentHeader = []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}

// IsWitnessCommitment reports whether script is a BIP141 witness commitment
// (at least 38 bytes, starting 6a24aa21a9ed).
func (o TxOut) IsWitnessCommitment() bool {
	return len(o.Script) >= 38 && bytes.HasPrefix(o.Script, witnessCommitmentHeader)
}

// CoinbaseParts describes a coinbase transaction whose scriptSig ends with
// an extranonce area of ExtranonceSize bytes: one input with the null
// outpoint, scriptSig = ScriptSigPrefix ‖ extranonce, then Outputs and
// LockTime. It is what both a pool template and a Stratum V2
// SetCustomMiningJob (coinbase_tx_version, coinbase_prefix,
// coinbase_tx_input_nSequence, coinbase_tx_outputs, coinbase_tx_locktime)
// carry. Slices are read, never retained by Split.
type CoinbaseParts struct {
	Version uint32
	// ScriptSigPrefix is every scriptSig byte before the extranonce: the
	// BIP34 height push first, and, when the extranonce is pushed, the push
	// opcode as its last byte.
	ScriptSigPrefix []byte
	ExtranonceSize  int
	Sequence        uint32
	Outputs         []TxOut
	LockTime        uint32
}

// Value returns the total of the outputs. Each value must lie in
// [0, MaxMoney] and so must the running sum (consensus, "bad-txns-vout-*").
func (c *CoinbaseParts) Value() (int64, error) {
	var sum int64
	for i, o := range c.Outputs {
		if o.Value < 0 || o.Value > MaxMoney {
			return 0, fmt.Errorf("%w: output %d value %d out of range", ErrInvalidCoinbase, i, o.Value)
		}
		sum += o.Value // cannot overflow: both terms are at most MaxMoney
		if sum > MaxMoney {
			return 0, fmt.Errorf("%w: outputs sum to more than %d", ErrInvalidCoinbase, MaxMoney)
		}
	}
	return sum, nil
}

// WitnessCommitment reports whether an output is a witness commitment: the
// block's coinbase must then carry the 32-byte witness reserved value
// (BIP141), and must not carry a witness otherwise.
func (c *CoinbaseParts) WitnessCommitment() bool {
	for _, o := range c.Outputs {
		if o.IsWitnessCommitment() {
			return true
		}
	}
	return false
}

// Check validates the parts: extranonce size in [1, MaxExtranonceSize],
// scriptSig (prefix and extranonce) in [MinScriptSig, MaxScriptSig] bytes,
// at least one output, output values as for Value.
func (c *CoinbaseParts) Check() error {
	if c.ExtranonceSize < 1 || c.ExtranonceSize > MaxExtranonceSize {
		return fmt.Errorf("%w: extranonce size %d not in [1, %d]", ErrInvalidCoinbase, c.ExtranonceSize, MaxExtranonceSize)
	}
	if n := len(c.ScriptSigPrefix) + c.ExtranonceSize; n < MinScriptSig || n > MaxScriptSig {
		return fmt.Errorf("%w: scriptSig is %d bytes, not in [%d, %d]", ErrInvalidCoinbase, n, MinScriptSig, MaxScriptSig)
	}
	if len(c.Outputs) == 0 {
		return fmt.Errorf("%w: no outputs", ErrInvalidCoinbase)
	}
	_, err := c.Value()
	return err
}

// Split checks the parts and returns the non-witness (txid) serialization of
// the coinbase around its extranonce: prefix ends with the scriptSig bytes
// before the extranonce, suffix starts with the input's sequence. These are
// Job.CoinbasePrefix and Job.CoinbaseSuffix, and Stratum V2's
// coinbase_tx_prefix and coinbase_tx_suffix.
func (c *CoinbaseParts) Split() (prefix, suffix []byte, err error) {
	if err := c.Check(); err != nil {
		return nil, nil, err
	}
	prefix = make([]byte, 0, 4+1+36+1+len(c.ScriptSigPrefix))
	prefix = binary.LittleEndian.AppendUint32(prefix, c.Version)
	prefix = append(prefix, 1) // one input
	prefix = append(prefix, make([]byte, 32)...)
	prefix = binary.LittleEndian.AppendUint32(prefix, 0xffffffff)
	prefix = append(prefix, byte(len(c.ScriptSigPrefix)+c.ExtranonceSize)) // <= 100: one byte
	prefix = append(prefix, c.ScriptSigPrefix...)

	n := 4 + 9 + 4
	for _, o := range c.Outputs {
		n += 8 + 9 + len(o.Script)
	}
	suffix = make([]byte, 0, n)
	suffix = binary.LittleEndian.AppendUint32(suffix, c.Sequence)
	suffix = AppendOutputs(suffix, c.Outputs)
	suffix = binary.LittleEndian.AppendUint32(suffix, c.LockTime)
	return prefix, suffix, nil
}

// AppendOutputs appends the serialized output vector (CompactSize count,
// then value u64 LE ‖ CompactSize script length ‖ script for each) to dst.
func AppendOutputs(dst []byte, outs []TxOut) []byte {
	dst = appendVarInt(dst, uint64(len(outs)))
	for _, o := range outs {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(o.Value))
		dst = appendVarInt(dst, uint64(len(o.Script)))
		dst = append(dst, o.Script...)
	}
	return dst
}

// minOutputSize is an output with an empty script: value and a 1-byte length.
const minOutputSize = 8 + 1

// ParseOutputs decodes b, which must be exactly one serialized output vector
// as AppendOutputs writes it (Stratum V2 SetCustomMiningJob and
// DeclareMiningJob coinbase_tx_outputs). CompactSizes must be canonical, as
// Bitcoin Core requires; every length is checked against the bytes left
// before anything is allocated, and trailing bytes are an error. Values are
// not range-checked here (CoinbaseParts.Check does). The scripts share one
// copy of b, so b may be reused afterwards.
func ParseOutputs(b []byte) ([]TxOut, error) {
	count, n, err := readCompactSize(b, 0)
	if err != nil {
		return nil, err
	}
	if count > uint64(len(b)-n)/minOutputSize {
		return nil, fmt.Errorf("%w: %d outputs cannot fit in %d bytes", ErrBadOutputs, count, len(b)-n)
	}
	buf := bytes.Clone(b)
	outs := make([]TxOut, count)
	off := n
	for i := range outs {
		if len(buf)-off < 8 {
			return nil, fmt.Errorf("%w: output %d value truncated at offset %d", ErrBadOutputs, i, off)
		}
		outs[i].Value = int64(binary.LittleEndian.Uint64(buf[off:]))
		off += 8
		l, n, err := readCompactSize(buf, off)
		if err != nil {
			return nil, err
		}
		off += n
		if l > uint64(len(buf)-off) {
			return nil, fmt.Errorf("%w: output %d script of %d bytes overruns at offset %d", ErrBadOutputs, i, l, off)
		}
		outs[i].Script = buf[off : off+int(l) : off+int(l)]
		off += int(l)
	}
	if off != len(buf) {
		return nil, fmt.Errorf("%w: %d trailing bytes at offset %d", ErrBadOutputs, len(buf)-off, off)
	}
	return outs, nil
}

// readCompactSize reads a canonical CompactSize at b[off:] and returns it and
// its encoded length.
func readCompactSize(b []byte, off int) (v uint64, n int, err error) {
	p := b[off:]
	if len(p) < 1 {
		return 0, 0, fmt.Errorf("%w: CompactSize truncated at offset %d", ErrBadOutputs, off)
	}
	var lo uint64
	switch p[0] {
	case 0xfd:
		n, lo = 3, 0xfd
	case 0xfe:
		n, lo = 5, 0x10000
	case 0xff:
		n, lo = 9, 0x100000000
	default:
		return uint64(p[0]), 1, nil
	}
	if len(p) < n {
		return 0, 0, fmt.Errorf("%w: CompactSize truncated at offset %d", ErrBadOutputs, off)
	}
	switch n {
	case 3:
		v = uint64(binary.LittleEndian.Uint16(p[1:]))
	case 5:
		v = uint64(binary.LittleEndian.Uint32(p[1:]))
	default:
		v = binary.LittleEndian.Uint64(p[1:])
	}
	if v < lo {
		return 0, 0, fmt.Errorf("%w: non-canonical CompactSize at offset %d", ErrBadOutputs, off)
	}
	return v, n, nil
}

// AppendBIP34Height appends the minimal script push of height exactly as
// Bitcoin Core's `CScript() << height` writes it (and as its BIP34 check and
// btcd's ExtractCoinbaseHeight read it): OP_0 for 0, OP_1..OP_16 for 1..16,
// else a push of the minimal little-endian sign-magnitude number. A negative
// height appends nothing.
func AppendBIP34Height(dst []byte, height int64) []byte {
	switch {
	case height < 0:
		return dst
	case height == 0:
		return append(dst, 0x00)
	case height <= 16:
		return append(dst, 0x50+byte(height))
	}
	var num [9]byte
	n := 0
	for v := height; v > 0; v >>= 8 {
		num[n] = byte(v)
		n++
	}
	if num[n-1]&0x80 != 0 {
		n++ // num[n-1] is already 0: the sign byte
	}
	dst = append(dst, byte(n))
	return append(dst, num[:n]...)
}

// appendVarInt appends v as a (canonical) CompactSize.
func appendVarInt(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
	}
}
