package jd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/adit-pool/adit/share"
)

// Coinbase limits.
const (
	// MaxScriptSig and MinScriptSig bound a coinbase scriptSig (consensus:
	// bad-cb-length).
	MaxScriptSig = 100
	MinScriptSig = 2
	// MaxExtranonce is the longest extranonce area a declared coinbase may
	// leave: PushSolution carries the extranonce as a B0_32.
	MaxExtranonce = 32
)

// CoinbaseError is a declared coinbase refused; Code is the
// DeclareMiningJob.Error code (SV2-JD.md §7 item 9).
type CoinbaseError struct {
	Code string
	Msg  string
}

func (e *CoinbaseError) Error() string { return "jd: " + e.Code + ": " + e.Msg }

func cbErr(code, format string, args ...any) *CoinbaseError {
	return &CoinbaseError{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// DeclaredCoinbase is the coinbase of a DeclareMiningJob, parsed from
// coinbase_tx_prefix ‖ extranonce ‖ coinbase_tx_suffix, where the
// extranonce area is the end of the scriptSig (the bytes the prefix does not
// hold) and reads as zeros.
type DeclaredCoinbase struct {
	// Prefix and Suffix are as declared (with the BIP141 fields).
	Prefix, Suffix []byte
	Version        uint32
	// Witness is true when the coinbase carries the BIP141 marker, flag and
	// a witness.
	Witness bool
	// ScriptSig is the whole scriptSig, the extranonce area zero-filled;
	// ExtranonceOffset is where the extranonce area starts in it and
	// ExtranonceSize its length.
	ScriptSig        []byte
	ExtranonceOffset int
	ExtranonceSize   int
	// Height is the BIP34 height at the start of the scriptSig.
	Height   int64
	Sequence uint32
	// Outputs are the serialized outputs, CompactSize count first (the
	// encoding of SetCustomMiningJob.coinbase_tx_outputs); Outs the parsed
	// ones; Value their checked sum.
	Outputs  []byte
	Outs     []txOut
	Value    int64
	Locktime uint32
	// WitnessData is the serialized witness of the input (empty without
	// one).
	WitnessData []byte

	// stripped* are the non-witness serialization around the extranonce.
	strippedPrefix, strippedSuffix []byte
}

// ParseDeclaredCoinbase parses a declared coinbase strictly: every length is
// checked before use, exactly one input spending the null outpoint, a
// scriptSig of 2-100 bytes that starts with a minimal BIP34 height push held
// wholly in the prefix, an extranonce area of at most 32 bytes at its end,
// at least one output, values and their sum within 21M BTC, and no trailing
// bytes. Errors are *CoinbaseError: invalid-coinbase-tx (unparsable, short,
// not a coinbase), invalid-coinbase-tx-input (not exactly one input) or
// invalid-job (scriptSig length out of bounds).
func ParseDeclaredCoinbase(prefix, suffix []byte) (*DeclaredCoinbase, error) {
	const bad = CodeInvalidCoinbaseTx
	c := &DeclaredCoinbase{Prefix: prefix, Suffix: suffix}
	r := &byteReader{b: prefix}
	c.Version = r.u32("version")
	if r.err == nil && r.left() >= 1 && prefix[4] == 0 {
		// Marker: a flag of 1 must follow (a bare 0 is an input count of
		// zero, which Core would read as a marker anyway).
		if r.left() < 2 || prefix[5] != 1 {
			return nil, cbErr(CodeInvalidCoinbaseTxInput, "no inputs")
		}
		c.Witness = true
		r.off += 2
	}
	bodyStart := r.off
	nIn := r.varint("input count", 1<<32)
	if r.err == nil && nIn != 1 {
		return nil, cbErr(CodeInvalidCoinbaseTxInput, "%d inputs, a coinbase has exactly one", nIn)
	}
	prev := r.take(36, "outpoint")
	slen := r.varint("scriptSig length", 1<<16)
	if r.err != nil {
		return nil, cbErr(bad, "prefix: %v", r.err)
	}
	if !isNullOutpoint(prev) {
		return nil, cbErr(bad, "the input does not spend the null outpoint: not a coinbase")
	}
	if slen > MaxScriptSig || slen < MinScriptSig {
		return nil, cbErr(CodeInvalidJob, "scriptSig of %d bytes, must be %d-%d", slen, MinScriptSig, MaxScriptSig)
	}
	inPrefix := r.left()
	if inPrefix > int(slen) {
		return nil, cbErr(bad, "the prefix runs %d bytes past the scriptSig: the extranonce must end the scriptSig", inPrefix-int(slen))
	}
	c.ExtranonceOffset, c.ExtranonceSize = inPrefix, int(slen)-inPrefix
	if c.ExtranonceSize > MaxExtranonce {
		return nil, cbErr(bad, "extranonce area of %d bytes, at most %d", c.ExtranonceSize, MaxExtranonce)
	}
	c.ScriptSig = make([]byte, slen)
	copy(c.ScriptSig, prefix[r.off:])
	h, err := bip34Height(prefix[r.off:])
	if err != nil {
		return nil, cbErr(bad, "%v", err)
	}
	c.Height = h

	s := &byteReader{b: suffix}
	c.Sequence = s.u32("sequence")
	outStart := s.off
	c.Outs, c.Value = s.readOutputs()
	if s.err == nil && len(c.Outs) == 0 {
		s.fail("no outputs")
	}
	c.Outputs = suffix[outStart:s.off:s.off]
	bodyEnd := s.off
	if c.Witness {
		s.readWitness()
		c.WitnessData = suffix[bodyEnd:s.off:s.off]
		if s.err == nil && len(c.WitnessData) == 1 {
			s.fail("superfluous witness record")
		}
	}
	c.Locktime = s.u32("locktime")
	if s.err == nil && s.left() != 0 {
		s.fail("%d trailing bytes", s.left())
	}
	if s.err != nil {
		return nil, cbErr(bad, "suffix: %v", s.err)
	}
	c.strippedPrefix = append(append([]byte(nil), prefix[:4]...), prefix[bodyStart:]...)
	c.strippedSuffix = append(append([]byte(nil), suffix[:bodyEnd]...), suffix[len(suffix)-4:]...)
	return c, nil
}

// bip34Height reads the minimally encoded height push at the start of a
// scriptSig (OP_0, OP_1…OP_16, or a push of a minimal CScriptNum), as Core
// compares it (CScript() << nHeight).
func bip34Height(script []byte) (int64, error) {
	if len(script) == 0 {
		return 0, errors.New("no BIP34 height in the prefix's scriptSig")
	}
	switch op := script[0]; {
	case op == 0x00:
		return 0, nil
	case op >= 0x51 && op <= 0x60:
		return int64(op - 0x50), nil
	case op > 8:
		return 0, fmt.Errorf("scriptSig starts with %#x, not a BIP34 height push", op)
	}
	n := int(script[0])
	if len(script) < 1+n {
		return 0, fmt.Errorf("BIP34 height push of %d bytes is not wholly in the prefix", n)
	}
	num := script[1 : 1+n]
	if num[n-1]&0x80 != 0 {
		return 0, errors.New("negative BIP34 height")
	}
	var h int64
	for i := n - 1; i >= 0; i-- {
		h = h<<8 | int64(num[i])
	}
	if !bytes.Equal(script[:1+n], share.AppendBIP34Height(nil, h)) {
		return 0, fmt.Errorf("BIP34 height %d is not minimally encoded", h)
	}
	return h, nil
}

// StrippedCoinbase returns the non-witness (txid) serialization with the
// given extranonce, which must be ExtranonceSize bytes.
func (c *DeclaredCoinbase) StrippedCoinbase(extranonce []byte) []byte {
	return concat(c.strippedPrefix, extranonce, c.strippedSuffix)
}

// FullCoinbase returns the serialization as declared (with the BIP141
// fields when it has them) with the given extranonce.
func (c *DeclaredCoinbase) FullCoinbase(extranonce []byte) []byte {
	return concat(c.Prefix, extranonce, c.Suffix)
}

// StrippedParts returns the non-witness serialization before and after the
// extranonce area (share.Job's CoinbasePrefix and CoinbaseSuffix).
func (c *DeclaredCoinbase) StrippedParts() (prefix, suffix []byte) {
	return c.strippedPrefix, c.strippedSuffix
}

// TxID is the coinbase txid with the given extranonce.
func (c *DeclaredCoinbase) TxID(extranonce []byte) [32]byte {
	return strippedHash(c.strippedPrefix, extranonce, c.strippedSuffix)
}

// Weight is the coinbase's BIP141 weight.
func (c *DeclaredCoinbase) Weight() int {
	base := len(c.strippedPrefix) + c.ExtranonceSize + len(c.strippedSuffix)
	return 3*base + len(c.Prefix) + c.ExtranonceSize + len(c.Suffix)
}

func concat(a, b, c []byte) []byte {
	out := make([]byte, 0, len(a)+len(b)+len(c))
	return append(append(append(out, a...), b...), c...)
}

// witnessCommitmentHeader starts a BIP141 commitment output script:
// OP_RETURN, a 36-byte push, then 0xaa21a9ed.
var witnessCommitmentHeader = []byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}

// witnessCommitment returns the last commitment in the outputs (the one
// BIP141 counts), if any.
func (c *DeclaredCoinbase) witnessCommitment() (commit [32]byte, ok bool) {
	for _, o := range c.Outs {
		if len(o.Script) >= 38 && bytes.HasPrefix(o.Script, witnessCommitmentHeader) {
			copy(commit[:], o.Script[6:38])
			ok = true
		}
	}
	return commit, ok
}

// witnessReserved returns the coinbase's witness reserved value: its one
// witness item when that is 32 bytes.
func (c *DeclaredCoinbase) witnessReserved() ([32]byte, bool) {
	var v [32]byte
	w := c.WitnessData
	if len(w) != 1+1+32 || w[0] != 1 || w[1] != 32 {
		return v, false
	}
	copy(v[:], w[2:])
	return v, true
}

// checkPayout applies the pool's payout rule to outputs: every output of a
// non-zero value pays poolScript, and they pay at least min in all. The
// result is "" or what is wrong.
func checkPayout(outs []txOut, poolScript []byte, min int64) string {
	var paid int64
	for i, o := range outs {
		if o.Value == 0 {
			continue
		}
		if !bytes.Equal(o.Script, poolScript) {
			return fmt.Sprintf("output %d pays %d sat to a script other than the pool's", i, o.Value)
		}
		paid += o.Value
	}
	switch {
	case paid == 0:
		return "no output pays the pool's script"
	case paid < min:
		return fmt.Sprintf("the pool's script is paid %d sat, less than the block subsidy %d", paid, min)
	}
	return ""
}

// parseOutputs parses a CompactSize-prefixed output list with nothing after
// it (SetCustomMiningJob.coinbase_tx_outputs).
func parseOutputs(b []byte) ([]txOut, error) {
	r := &byteReader{b: b}
	outs, _ := r.readOutputs()
	if r.err == nil && r.left() != 0 {
		r.fail("%d trailing bytes", r.left())
	}
	return outs, r.err
}

// poolOutputs is the output list AllocateMiningJobToken.Success carries:
// one output of 0 sat paying script, CompactSize-prefixed.
func poolOutputs(script []byte) []byte {
	b := share.AppendVarInt(nil, 1)
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = share.AppendVarInt(b, uint64(len(script)))
	return append(b, script...)
}
