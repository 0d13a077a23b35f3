package main

import (
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum/client"
)

// job is one piece of work as the hashing threads see it, whatever the
// protocol: a Stratum V1 notify (v1Job), an SV2 extended-channel job or an
// SV2 standard-channel (header-only) job (v2Job). The hashing loop, the
// pacing and the stale-share check work on this interface only; a job is
// immutable once published.
type job interface {
	// id names the job in logs.
	id() string
	// seq increases with every job a session publishes; clean reports that
	// the job makes every older one stale (a new block).
	seq() uint64
	clean() bool
	// target is the share target and difficulty its difficulty (pacing).
	target() *share.Target
	difficulty() float64
	// ntime is the job's ntime when it arrived; threads roll it with the
	// clock.
	ntime() uint32
	// extranonceSize is how many extranonce bytes the miner chooses; 0
	// means header-only work (the threads roll the version instead).
	extranonceSize() int
	// versionMask is the version bits the miner may roll (0: none) and
	// rolledVersion the full header version for rolled bits.
	versionMask() uint32
	rolledVersion(bits uint32) uint32
	// header writes the header for extranonce en, ntime, the unrolled
	// version and nonce 0 into h. scratch is reused for the coinbase; the
	// possibly grown buffer is returned.
	header(h *share.Header, scratch, en []byte, ntime uint32) []byte
}

// v1Job is a Stratum V1 Work.
type v1Job struct{ *client.Work }

func (j v1Job) id() string                    { return j.JobID }
func (j v1Job) seq() uint64                   { return j.Seq }
func (j v1Job) clean() bool                   { return j.Clean }
func (j v1Job) target() *share.Target         { return &j.Target }
func (j v1Job) difficulty() float64           { return j.Difficulty }
func (j v1Job) ntime() uint32                 { return j.NTime }
func (j v1Job) extranonceSize() int           { return j.Extranonce2Size }
func (j v1Job) versionMask() uint32           { return j.VersionMask }
func (j v1Job) rolledVersion(b uint32) uint32 { return j.RolledVersion(b) }

func (j v1Job) header(h *share.Header, scratch, en []byte, ntime uint32) []byte {
	var root [32]byte
	root, scratch = j.MerkleRoot(scratch, en)
	j.Header(h, &root, ntime, 0, 0)
	return scratch
}
