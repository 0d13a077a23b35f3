package e2e

import (
	"encoding/binary"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/client"
)

// Solution is a nonce search result for a Work.
type Solution struct {
	Extranonce2 []byte
	NTime       uint32
	Nonce       uint32
	Hash        [32]byte
}

// Search hashes w with extranonce2 en2Seed (big-endian, padded to the work's
// size) from nonce 0 and returns the first nonce whose header hash satisfies
// accept, giving up after maxTries. Tests use it to make shares of a chosen
// quality: meeting a target, missing it, or missing the network target.
func Search(w *client.Work, en2Seed uint64, maxTries int, accept func(hash *[32]byte) bool) (Solution, bool) {
	en2 := make([]byte, w.Extranonce2Size)
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], en2Seed)
	copy(en2[max(0, len(en2)-8):], seed[max(0, 8-len(en2)):])
	root, _ := w.MerkleRoot(nil, en2)
	var h share.Header
	for nonce := uint32(0); nonce < uint32(maxTries); nonce++ {
		w.Header(&h, &root, w.NTime, nonce, 0)
		hash := share.DoubleSHA256(h[:])
		if accept(&hash) {
			return Solution{Extranonce2: en2, NTime: w.NTime, Nonce: nonce, Hash: hash}, true
		}
	}
	return Solution{}, false
}
