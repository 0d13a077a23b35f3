package client

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
)

// Notify is a decoded mining.notify. Byte slices are freshly allocated and
// owned by the Notify.
type Notify struct {
	// JobID is the pool's job identifier, echoed verbatim in mining.submit.
	JobID string
	// PrevHash is the previous block hash in internal (header) byte order.
	PrevHash [32]byte
	// Coinb1 and Coinb2 surround extranonce1 ‖ extranonce2 in the coinbase.
	Coinb1, Coinb2 []byte
	// Branch is the coinbase's merkle path, internal byte order.
	Branch [][32]byte
	// Version, Bits and NTime are the header fields (sent big-endian hex).
	Version, Bits, NTime uint32
	// Clean is true when earlier jobs are stale.
	Clean bool
}

// maxBranch bounds the merkle branch length a notify may carry (a branch of
// 32 levels covers 2^32 transactions).
const maxBranch = 32

// ParseNotify decodes mining.notify params: [job_id, prevhash, coinb1, coinb2,
// merkle_branch, version, nbits, ntime, clean_jobs]. prevhash arrives in the
// Stratum V1 form (header-order bytes with each 4-byte word byte-swapped) and
// is returned in internal order. Extra trailing params are ignored, as
// firmware does; missing or malformed ones are an error. Unlike
// stratum.ParseNotify, which knows Adit's own 8-hex-digit job ids, it keeps
// job_id as an opaque string so the client works against any pool.
func ParseNotify(params json.RawMessage) (*Notify, error) {
	var p []json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, fmt.Errorf("client: notify params: %w", err)
	}
	if len(p) < 9 {
		return nil, fmt.Errorf("client: notify has %d params, want 9", len(p))
	}
	var (
		n                    Notify
		prev, cb1, cb2       string
		branch               []string
		version, bits, ntime string
	)
	fields := []struct {
		name string
		dst  any
	}{
		{"job_id", &n.JobID}, {"prevhash", &prev}, {"coinb1", &cb1}, {"coinb2", &cb2},
		{"merkle_branch", &branch}, {"version", &version}, {"nbits", &bits},
		{"ntime", &ntime}, {"clean_jobs", &n.Clean},
	}
	for i, f := range fields {
		if err := json.Unmarshal(p[i], f.dst); err != nil {
			return nil, fmt.Errorf("client: notify %s: %w", f.name, err)
		}
	}
	if n.JobID == "" {
		return nil, errors.New("client: notify job_id is empty")
	}
	var err error
	if n.PrevHash, err = decodeHash(prev); err != nil {
		return nil, fmt.Errorf("client: notify prevhash: %w", err)
	}
	n.PrevHash = stratum.PrevHashV1(n.PrevHash)
	if n.Coinb1, err = hex.DecodeString(cb1); err != nil {
		return nil, fmt.Errorf("client: notify coinb1: %w", err)
	}
	if n.Coinb2, err = hex.DecodeString(cb2); err != nil {
		return nil, fmt.Errorf("client: notify coinb2: %w", err)
	}
	if len(branch) > maxBranch {
		return nil, fmt.Errorf("client: notify merkle branch has %d levels", len(branch))
	}
	n.Branch = make([][32]byte, len(branch))
	for i, b := range branch {
		if n.Branch[i], err = decodeHash(b); err != nil {
			return nil, fmt.Errorf("client: notify merkle_branch[%d]: %w", i, err)
		}
	}
	if n.Version, err = ParseUint32Hex(version); err != nil {
		return nil, fmt.Errorf("client: notify version: %w", err)
	}
	if n.Bits, err = ParseUint32Hex(bits); err != nil {
		return nil, fmt.Errorf("client: notify nbits: %w", err)
	}
	if n.NTime, err = ParseUint32Hex(ntime); err != nil {
		return nil, fmt.Errorf("client: notify ntime: %w", err)
	}
	return &n, nil
}

// ParseUint32Hex parses exactly 8 hex digits as a big-endian uint32, the
// Stratum V1 form of version, nbits, ntime, nonce and version masks.
func ParseUint32Hex(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("want 8 hex digits, got %q", s)
	}
	var b [4]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// Uint32Hex formats v as 8 big-endian hex digits.
func Uint32Hex(v uint32) string { return fmt.Sprintf("%08x", v) }

func decodeHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("want 64 hex digits, got %d", len(s))
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}

// Work is everything a miner needs to hash one job: a Notify together with
// the session state in force when the notify arrived. A Work is immutable
// once delivered; miners share it read-only between threads.
type Work struct {
	Notify
	// Extranonce1 is the pool-assigned extranonce prefix; Extranonce2Size the
	// number of bytes the miner chooses.
	Extranonce1     []byte
	Extranonce2Size int
	// Difficulty is the share difficulty in force when the notify arrived
	// (mining.set_difficulty precedes the notify it applies to) and Target its
	// share target.
	Difficulty float64
	Target     share.Target
	// VersionMask is the negotiated version-rolling mask (0: no rolling).
	VersionMask uint32
	// Seq increases with every Work a Client delivers.
	Seq uint64
}

// Coinbase appends coinb1 ‖ extranonce1 ‖ en2 ‖ coinb2 to dst and returns it.
func (w *Work) Coinbase(dst, en2 []byte) []byte {
	dst = append(dst, w.Coinb1...)
	dst = append(dst, w.Extranonce1...)
	dst = append(dst, en2...)
	return append(dst, w.Coinb2...)
}

// MerkleRoot returns the merkle root for extranonce2 en2. scratch is reused
// for the coinbase when large enough; the (possibly grown) buffer is returned.
func (w *Work) MerkleRoot(scratch, en2 []byte) ([32]byte, []byte) {
	scratch = w.Coinbase(scratch[:0], en2)
	return share.MerkleRoot(share.DoubleSHA256(scratch), w.Branch), scratch
}

// RolledVersion returns the header version for rolled bits:
// (Version &^ VersionMask) | (bits & VersionMask).
func (w *Work) RolledVersion(bits uint32) uint32 {
	return (w.Version &^ w.VersionMask) | (bits & w.VersionMask)
}

// Header builds the 80-byte header for a merkle root, ntime, nonce and rolled
// version bits (ignored when VersionMask is 0).
func (w *Work) Header(h *share.Header, root *[32]byte, ntime, nonce, versionBits uint32) {
	share.PutHeader(h, w.RolledVersion(versionBits), &w.PrevHash, root, ntime, w.Bits, nonce)
}
