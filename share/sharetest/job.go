package sharetest

import (
	"encoding/binary"
	"time"

	"github.com/adit-pool/adit/share"
)

// Network bits for test jobs: HardBits never yields a block at share
// difficulties (so low-difficulty rejects are deterministic); RegtestBits
// makes about half of all hashes blocks.
const (
	HardBits    = 0x1d00ffff
	RegtestBits = 0x207fffff
)

// Job builds a real, valid job: a serialized coinbase (BIP34 height 1,
// one OP_TRUE output of 50 BTC) split around an 8-byte extranonce pushed at
// the end of its scriptSig, the given transactions and their merkle
// branch. prev distinguishes the previous block hash of different blocks.
func Job(id uint32, prev byte, now time.Time, bits uint32, txs ...[]byte) *share.Job {
	return JobSized(id, prev, now, bits, 8, txs...)
}

// JobSized is Job with an extranonce area of extranonce bytes (1..75).
func JobSized(id uint32, prev byte, now time.Time, bits uint32, extranonce int, txs ...[]byte) *share.Job {
	prefix := []byte{1, 0, 0, 0, 1}                 // version, one input
	prefix = append(prefix, make([]byte, 32)...)    // null prevout hash
	prefix = append(prefix, 0xff, 0xff, 0xff, 0xff) // prevout index
	// scriptSig: BIP34 height 1, then a push of the extranonce.
	prefix = append(prefix, byte(5+extranonce), 3, 1, 0, 0, byte(extranonce))
	suffix := []byte{0xff, 0xff, 0xff, 0xff, 1} // sequence, one output
	suffix = binary.LittleEndian.AppendUint64(suffix, 50e8)
	suffix = append(suffix, 1, 0x51, 0, 0, 0, 0) // OP_TRUE, locktime
	j := &share.Job{
		ID:             id,
		Height:         1,
		Version:        0x20000000,
		Bits:           bits,
		NetworkTarget:  share.TargetFromCompact(bits),
		MinTime:        uint32(now.Unix()) - 600,
		CurTime:        uint32(now.Unix()),
		CoinbasePrefix: prefix,
		CoinbaseSuffix: suffix,
		ExtranonceSize: extranonce,
		CoinbaseValue:  50e8,
		Created:        now,
	}
	j.PrevHash[0], j.PrevHash[31] = prev, 0x5a
	for _, tx := range txs {
		j.Transactions = append(j.Transactions, tx)
		j.TxIDs = append(j.TxIDs, share.DoubleSHA256(tx))
	}
	j.MerkleBranch = share.MerkleBranch(j.TxIDs)
	if err := j.Validate(); err != nil {
		panic(err)
	}
	return j
}
