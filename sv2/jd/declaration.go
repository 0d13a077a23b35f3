package jd

import (
	"bytes"
	"fmt"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/codec"
)

// Declaration is a job a JDC declared and the JDS accepted, as stored for
// SetCustomMiningJob (CheckCustomJob) and for rebuilding a found block. It
// is read-only once returned.
type Declaration struct {
	// UserIdentity is the user_identifier given at token allocation.
	UserIdentity string
	// PrevHash (internal byte order), Bits, Height, Subsidy and the times
	// are the pool node's tip captured when the job was declared.
	PrevHash         [32]byte
	Bits             uint32
	Height           int64
	Subsidy          int64
	MinTime, CurTime uint32
	// Version is DeclareMiningJob.version.
	Version uint32
	// The coinbase: tx version, the whole scriptSig (extranonce area
	// zero-filled), nSequence, the serialized outputs (CompactSize count
	// first, as SetCustomMiningJob.coinbase_tx_outputs), locktime, and the
	// parsed value; Coinbase has the rest (prefix/suffix, extranonce area,
	// witness).
	CoinbaseTxVersion uint32
	ScriptSig         []byte
	Sequence          uint32
	Outputs           []byte
	Locktime          uint32
	CoinbaseValue     int64
	Coinbase          *DeclaredCoinbase
	// TxIDs are the transactions' txids in block order, Transactions their
	// full (witness) serializations; MerkleBranch is the coinbase's merkle
	// path over TxIDs.
	TxIDs        [][32]byte
	Transactions [][]byte
	MerkleBranch [][32]byte
	// Fees is the sum of the transactions' fees, or -1 when the mirror did
	// not know all of them.
	Fees int64
	// Declared is when the JDS accepted the job.
	Declared time.Time
}

// Block rebuilds the block for a solution: header (version as mined, the
// declared prev hash and nbits, the merkle root of the coinbase with this
// extranonce), the coinbase as declared with the extranonce, then the
// transactions. It returns the block and its header hash (internal byte
// order).
func (d *Declaration) Block(version, ntime, nonce uint32, extranonce []byte) (block []byte, hash [32]byte, err error) {
	if len(extranonce) != d.Coinbase.ExtranonceSize {
		return nil, hash, fmt.Errorf("jd: extranonce of %d bytes, the declared coinbase has %d", len(extranonce), d.Coinbase.ExtranonceSize)
	}
	root := share.MerkleRoot(d.Coinbase.TxID(extranonce), d.MerkleBranch)
	var h share.Header
	share.PutHeader(&h, version, &d.PrevHash, &root, ntime, d.Bits, nonce)
	return assembleBlock(&h, d.Coinbase.FullCoinbase(extranonce), d.Transactions), share.DoubleSHA256(h[:]), nil
}

// CheckCustomJob checks a SetCustomMiningJob against the declaration its
// token activated, field by field in the reference order (SV2-JD.md §1.6):
// prev hash, nbits, version, coinbase tx version, scriptSig prefix,
// nSequence, outputs (byte-equal), locktime, merkle path; then the pool's
// payout rule on the outputs again. It returns "" when the job matches,
// else the SetCustomMiningJob.Error code and what differs.
func CheckCustomJob(d *Declaration, m *codec.SetCustomMiningJob, poolScript []byte) (code string, details string) {
	switch {
	case m.PrevHash != d.PrevHash:
		return CodeStaleChainTip, fmt.Sprintf("prev_hash %x, declared on %x", m.PrevHash, d.PrevHash)
	case m.NBits != d.Bits:
		return CodeInvalidNBits, fmt.Sprintf("nbits %08x, declared %08x", m.NBits, d.Bits)
	case m.Version != d.Version:
		return CodeInvalidVersion, fmt.Sprintf("version %08x, declared %08x", m.Version, d.Version)
	case m.CoinbaseTxVersion != d.CoinbaseTxVersion:
		return CodeInvalidCoinbaseTxVersion, fmt.Sprintf("coinbase tx version %d, declared %d", m.CoinbaseTxVersion, d.CoinbaseTxVersion)
	case !bytes.HasPrefix(d.ScriptSig, m.CoinbasePrefix):
		return CodeInvalidCoinbasePrefix, "coinbase_prefix does not start the declared scriptSig"
	case m.CoinbaseTxInputNSequence != d.Sequence:
		return CodeInvalidCoinbaseTxInputNSequence, fmt.Sprintf("nSequence %08x, declared %08x", m.CoinbaseTxInputNSequence, d.Sequence)
	case !bytes.Equal(m.CoinbaseTxOutputs, d.Outputs):
		return CodeInvalidCoinbaseTxOutputs, "coinbase_tx_outputs differ from the declared outputs"
	case m.CoinbaseTxLocktime != d.Locktime:
		return CodeInvalidCoinbaseTxLocktime, fmt.Sprintf("locktime %d, declared %d", m.CoinbaseTxLocktime, d.Locktime)
	case !sameBranch(m.MerklePath, d.MerkleBranch):
		return CodeInvalidMerklePath, "merkle_path is not the declared transactions' path"
	}
	outs, err := parseOutputs(m.CoinbaseTxOutputs)
	if err != nil {
		return CodeInvalidCoinbaseTxOutputs, err.Error()
	}
	if why := checkPayout(outs, poolScript, d.Subsidy); why != "" {
		return CodeInvalidCoinbaseTxOutputs, why
	}
	return "", ""
}

func sameBranch(a, b [][32]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
