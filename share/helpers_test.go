package share

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustHex32(t testing.TB, s string) [32]byte {
	t.Helper()
	var out [32]byte
	b := mustHex(t, s)
	if len(b) != 32 {
		t.Fatalf("hex %q is %d bytes, want 32", s, len(b))
	}
	copy(out[:], b)
	return out
}

// txOut is a coinbase output for the test coinbase builder.
type txOut struct {
	value  int64
	script []byte
}

// buildCoinbase returns the non-witness coinbase split around an extranonce
// area of enSize bytes at the end of the scriptSig: version 2, one null
// input, scriptSig = BIP34 height push ‖ tag ‖ extranonce, the outputs and a
// zero locktime.
func buildCoinbase(height int64, tag []byte, enSize int, outs []txOut) (prefix, suffix []byte) {
	var script []byte
	switch {
	case height >= 1 && height <= 16:
		script = append(script, byte(0x50+height))
	default:
		var hb []byte
		for h := height; h > 0; h >>= 8 {
			hb = append(hb, byte(h))
		}
		if len(hb) > 0 && hb[len(hb)-1]&0x80 != 0 {
			hb = append(hb, 0)
		}
		script = append(append(script, byte(len(hb))), hb...)
	}
	script = append(script, tag...)
	prefix = binary.LittleEndian.AppendUint32(nil, 2)
	prefix = append(prefix, 1)
	prefix = append(prefix, make([]byte, 32)...)
	prefix = binary.LittleEndian.AppendUint32(prefix, 0xffffffff)
	prefix = appendVarInt(prefix, uint64(len(script)+enSize))
	prefix = append(prefix, script...)

	suffix = binary.LittleEndian.AppendUint32(nil, 0xffffffff)
	suffix = appendVarInt(suffix, uint64(len(outs)))
	for _, o := range outs {
		suffix = binary.LittleEndian.AppendUint64(suffix, uint64(o.value))
		suffix = appendVarInt(suffix, uint64(len(o.script)))
		suffix = append(suffix, o.script...)
	}
	suffix = binary.LittleEndian.AppendUint32(suffix, 0)
	return prefix, suffix
}

// witnessCommitmentScript returns an OP_RETURN witness commitment output script.
func witnessCommitmentScript(commit [32]byte) []byte {
	return append([]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}, commit[:]...)
}

func randHash(r *rand.Rand) [32]byte {
	var h [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(h[i:], r.Uint64())
	}
	return h
}

// jobSpec describes a synthetic job.
type jobSpec struct {
	id       uint32
	prev     [32]byte
	levels   int // merkle branch length
	enSize   int
	tagLen   int
	outputs  int
	minTime  uint32
	netTgt   Target
	witness  bool
	version  uint32
	txBodies bool // fill Transactions/TxIDs consistently with the branch
}

// newTestJob builds a job with a realistic coinbase. With txBodies the
// branch is derived from real (random) transactions, otherwise it is random.
func newTestJob(r *rand.Rand, s jobSpec) *Job {
	if s.version == 0 {
		s.version = 0x20000000
	}
	if s.outputs == 0 {
		s.outputs = 2
	}
	tag := make([]byte, s.tagLen)
	for i := range tag {
		tag[i] = byte('a' + r.IntN(26))
	}
	var outs []txOut
	for i := 0; i < s.outputs; i++ {
		sc := make([]byte, 22)
		sc[0], sc[1] = 0x00, 0x14
		for j := 2; j < 22; j++ {
			sc[j] = byte(r.Uint32())
		}
		outs = append(outs, txOut{value: int64(r.IntN(5e9)), script: sc})
	}
	if s.witness {
		outs = append(outs, txOut{value: 0, script: witnessCommitmentScript(randHash(r))})
	}
	prefix, suffix := buildCoinbase(int64(800000+r.IntN(100000)), tag, s.enSize, outs)
	j := &Job{
		ID:             s.id,
		Height:         800000,
		PrevHash:       s.prev,
		Version:        s.version,
		Bits:           0x1703a30c,
		NetworkTarget:  s.netTgt,
		MinTime:        s.minTime,
		CurTime:        s.minTime + 600,
		CoinbasePrefix: prefix,
		CoinbaseSuffix: suffix,
		ExtranonceSize: s.enSize,
		CoinbaseValue:  5e9,
		Witness:        s.witness,
		Created:        time.Unix(int64(s.minTime), 0),
	}
	if s.txBodies {
		ntx := 0 // a branch of s.levels levels: 2^(levels-1)+1 .. 2^levels leaves with the coinbase
		if s.levels > 0 {
			ntx = (1 << (s.levels - 1)) + r.IntN(1<<(s.levels-1))
		}
		for i := 0; i < ntx; i++ {
			tx := fakeTx(r)
			j.Transactions = append(j.Transactions, tx)
			j.TxIDs = append(j.TxIDs, DoubleSHA256(tx))
		}
		j.MerkleBranch = MerkleBranch(j.TxIDs)
	} else {
		for i := 0; i < s.levels; i++ {
			j.MerkleBranch = append(j.MerkleBranch, randHash(r))
		}
	}
	return j
}

// fakeTx returns a syntactically valid non-witness transaction with one input
// and one output (for block serialization tests).
func fakeTx(r *rand.Rand) []byte {
	tx := binary.LittleEndian.AppendUint32(nil, 2)
	tx = append(tx, 1)
	h := randHash(r)
	tx = append(tx, h[:]...)
	tx = binary.LittleEndian.AppendUint32(tx, uint32(r.IntN(4)))
	tx = append(tx, 0) // empty scriptSig
	tx = binary.LittleEndian.AppendUint32(tx, 0xfffffffd)
	tx = append(tx, 1)
	tx = binary.LittleEndian.AppendUint64(tx, uint64(r.IntN(1e8)))
	tx = append(tx, 22, 0x00, 0x14)
	for i := 0; i < 20; i++ {
		tx = append(tx, byte(r.Uint32()))
	}
	return binary.LittleEndian.AppendUint32(tx, 0)
}

// ---- plain reference implementation (crypto/sha256, big.Int) ----

func refSHA256d(b []byte) [32]byte {
	a := sha256.Sum256(b)
	return sha256.Sum256(a[:])
}

type refInput struct {
	job      *Job
	prefix   []byte
	mask     uint32
	target   Target
	floor    *Target
	now      time.Time
	sub      Submission
	tipIsJob bool // job's prevhash is the tip
}

type refOutput struct {
	reason RejectReason
	header [80]byte
	hash   [32]byte
	block  bool
}

// refValidate is the obviously-correct validator (no duplicate tracking):
// every byte built by hand, hashes by crypto/sha256, targets by big.Int.
func refValidate(in refInput) refOutput {
	// A stale share (its job is not on the tip) is RejectStale unless it
	// is a well-formed block.
	out := refJudge(in)
	if !in.tipIsJob && (out.reason != Accepted || !out.block) {
		out.reason = RejectStale
	}
	return out
}

func refJudge(in refInput) refOutput {
	var out refOutput
	j := in.job
	if len(in.prefix)+len(in.sub.Extranonce) != j.ExtranonceSize {
		out.reason = RejectBadExtranonce
		return out
	}
	if in.sub.NTime < j.MinTime || int64(in.sub.NTime) > in.now.Unix()+7200 {
		out.reason = RejectBadNTime
		return out
	}
	version := j.Version
	if in.sub.HasVersion {
		if in.sub.VersionBits&^in.mask != 0 {
			out.reason = RejectBadVersion
			return out
		}
		version = j.Version&^in.mask | in.sub.VersionBits&in.mask
	}
	var cb bytes.Buffer
	cb.Write(j.CoinbasePrefix)
	cb.Write(in.prefix)
	cb.Write(in.sub.Extranonce)
	cb.Write(j.CoinbaseSuffix)
	root := refSHA256d(cb.Bytes())
	for _, n := range j.MerkleBranch {
		root = refSHA256d(append(append([]byte(nil), root[:]...), n[:]...))
	}
	h := out.header[:0]
	h = binary.LittleEndian.AppendUint32(h, version)
	h = append(h, j.PrevHash[:]...)
	h = append(h, root[:]...)
	h = binary.LittleEndian.AppendUint32(h, in.sub.NTime)
	h = binary.LittleEndian.AppendUint32(h, j.Bits)
	h = binary.LittleEndian.AppendUint32(h, in.sub.Nonce)
	_ = h
	out.hash = refSHA256d(out.header[:])
	hn := refLEInt(out.hash[:])
	meets := func(t Target) bool { return hn.Cmp(refTargetInt(t)) <= 0 }
	out.block = meets(j.NetworkTarget) && (in.floor == nil || meets(*in.floor))
	if !out.block && !meets(in.target) {
		out.reason = RejectLowDifficulty
	}
	return out
}

func refLEInt(le []byte) *big.Int {
	be := make([]byte, len(le))
	for i := range le {
		be[len(le)-1-i] = le[i]
	}
	return new(big.Int).SetBytes(be)
}

func refTargetInt(t Target) *big.Int {
	n := new(big.Int)
	for i := 3; i >= 0; i-- {
		n.Lsh(n, 64)
		n.Or(n, new(big.Int).SetUint64(t[i]))
	}
	return n
}
