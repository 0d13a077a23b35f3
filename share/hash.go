package share

import "encoding/binary"

// DoubleSHA256 returns SHA256(SHA256(b)).
func DoubleSHA256(b []byte) [32]byte {
	return sha256d(b)
}

// MerkleRoot folds a leaf (the coinbase txid) up a merkle branch, each node
// in internal byte order, as Stratum V1 and V2 transmit it.
func MerkleRoot(leaf [32]byte, branch [][32]byte) [32]byte {
	root := leaf
	for i := range branch {
		merkleStep(&root, &branch[i])
	}
	return root
}

// MerkleBranch returns the branch for the first leaf (the coinbase) of a tree
// whose other leaves are txids, in block order. txids excludes the coinbase.
func MerkleBranch(txids [][32]byte) [][32]byte {
	if len(txids) == 0 {
		return nil
	}
	// level holds the hashes of the current level, with a placeholder for the
	// coinbase path at index 0; one spare slot for the duplicate of an odd
	// level's last hash, so the append below never copies the level.
	level := make([][32]byte, len(txids)+1, len(txids)+2)
	copy(level[1:], txids)
	var branch [][32]byte
	for len(level) > 1 {
		branch = append(branch, level[1])
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		next := make([][32]byte, len(level)/2, len(level)/2+1)
		for i := 1; i < len(next); i++ {
			next[i] = level[2*i]
			merkleStep(&next[i], &level[2*i+1])
		}
		level = next
	}
	return branch
}

// Header is an 80-byte block header in wire order.
type Header [80]byte

// PutHeader fills h from its fields; prevHash and merkleRoot are in internal
// byte order.
func PutHeader(h *Header, version uint32, prevHash, merkleRoot *[32]byte, ntime, bits, nonce uint32) {
	binary.LittleEndian.PutUint32(h[0:], version)
	copy(h[4:36], prevHash[:])
	copy(h[36:68], merkleRoot[:])
	binary.LittleEndian.PutUint32(h[68:], ntime)
	binary.LittleEndian.PutUint32(h[72:], bits)
	binary.LittleEndian.PutUint32(h[76:], nonce)
}

// AppendVarInt appends v as a Bitcoin CompactSize (the shortest encoding).
func AppendVarInt(b []byte, v uint64) []byte { return appendVarInt(b, v) }
