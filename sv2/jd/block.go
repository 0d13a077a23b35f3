package jd

import (
	"github.com/adit-pool/adit/share"
)

// witnessRoot is the BIP141 witness merkle root of a block whose
// non-coinbase transactions have these wtxids (the coinbase counts as zero).
func witnessRoot(wtxids [][32]byte) [32]byte {
	return share.MerkleRoot([32]byte{}, share.MerkleBranch(wtxids))
}

// checkWitnessCommitment checks the coinbase's witness commitment against
// the transactions, as BIP141 does: with a commitment output, the witness
// reserved value must be there and the commitment must match; without one,
// no transaction may carry a witness. The result is "" or what is wrong.
func checkWitnessCommitment(c *DeclaredCoinbase, txs []*tx) string {
	commit, ok := c.witnessCommitment()
	if !ok {
		for _, t := range txs {
			if t.Witness {
				return "a transaction has a witness but the coinbase has no witness commitment"
			}
		}
		return ""
	}
	reserved, ok := c.witnessReserved()
	if !ok {
		return "the coinbase has a witness commitment but no 32-byte witness reserved value"
	}
	wtxids := make([][32]byte, len(txs))
	for i, t := range txs {
		wtxids[i] = t.WTxID
	}
	root := witnessRoot(wtxids)
	if share.DoubleSHA256(append(root[:], reserved[:]...)) != commit {
		return "the witness commitment does not match the transactions"
	}
	return ""
}

// assembleBlock serializes a block: header, transaction count, the coinbase
// as given, then txs.
func assembleBlock(h *share.Header, coinbase []byte, txs [][]byte) []byte {
	size := len(h) + 9 + len(coinbase)
	for _, t := range txs {
		size += len(t)
	}
	b := make([]byte, 0, size)
	b = append(b, h[:]...)
	b = share.AppendVarInt(b, uint64(len(txs)+1))
	b = append(b, coinbase...)
	for _, t := range txs {
		b = append(b, t...)
	}
	return b
}
