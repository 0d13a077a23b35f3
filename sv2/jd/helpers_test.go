package jd

import (
	"encoding/binary"

	"github.com/adit-pool/adit/share"
)

var poolScript = []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}

// cbSpec describes a test coinbase.
type cbSpec struct {
	version    uint32
	height     int64
	tag        []byte // after the height push, in the prefix
	extranonce int    // size of the extranonce area
	outs       []txOut
	witness    bool // marker, flag and a 32-byte reserved value
	sequence   uint32
	locktime   uint32
}

func defaultSpec(height int64, value int64) cbSpec {
	return cbSpec{version: 2, height: height, tag: []byte("/jdc/"), extranonce: 16, witness: true,
		sequence: 0xffffffff, outs: []txOut{{Value: value, Script: poolScript}}}
}

// build returns coinbase_tx_prefix and coinbase_tx_suffix.
func (s cbSpec) build() (prefix, suffix []byte) {
	prefix = binary.LittleEndian.AppendUint32(nil, s.version)
	if s.witness {
		prefix = append(prefix, 0, 1)
	}
	prefix = append(prefix, 1)
	prefix = append(prefix, make([]byte, 32)...)
	prefix = binary.LittleEndian.AppendUint32(prefix, 0xffffffff)
	script := append(share.AppendBIP34Height(nil, s.height), s.tag...)
	prefix = share.AppendVarInt(prefix, uint64(len(script)+s.extranonce))
	prefix = append(prefix, script...)
	suffix = binary.LittleEndian.AppendUint32(nil, s.sequence)
	suffix = appendOutputs(suffix, s.outs)
	if s.witness {
		suffix = append(suffix, 1, 32)
		suffix = append(suffix, make([]byte, 32)...)
	}
	suffix = binary.LittleEndian.AppendUint32(suffix, s.locktime)
	return prefix, suffix
}

func appendOutputs(b []byte, outs []txOut) []byte {
	b = share.AppendVarInt(b, uint64(len(outs)))
	for _, o := range outs {
		b = binary.LittleEndian.AppendUint64(b, uint64(o.Value))
		b = share.AppendVarInt(b, uint64(len(o.Script)))
		b = append(b, o.Script...)
	}
	return b
}

// makeTx returns a distinct one-input, one-output transaction; witness adds
// a one-item witness.
func makeTx(seed byte, witness bool) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	if witness {
		b = append(b, 0, 1)
	}
	b = append(b, 1)
	prev := make([]byte, 32)
	prev[0], prev[31] = seed, 0x5a
	b = append(b, prev...)
	b = binary.LittleEndian.AppendUint32(b, uint32(seed))
	b = append(b, 0) // empty scriptSig
	b = binary.LittleEndian.AppendUint32(b, 0xfffffffd)
	b = appendOutputs(b, []txOut{{Value: 1000 + int64(seed), Script: []byte{0x51}}})
	if witness {
		b = append(b, 1, 8, seed, 2, 3, 4, 5, 6, 7, 8)
	}
	return binary.LittleEndian.AppendUint32(b, 0)
}

// commitOutput returns the witness commitment output for the given
// non-coinbase wtxids (block order) and a zero reserved value.
func commitOutput(wtxids [][32]byte) txOut {
	root := witnessRoot(wtxids)
	var reserved [32]byte
	c := share.DoubleSHA256(append(root[:], reserved[:]...))
	return txOut{Value: 0, Script: append(append([]byte(nil), witnessCommitmentHeader...), c[:]...)}
}
