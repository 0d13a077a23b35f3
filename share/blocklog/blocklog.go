// Package blocklog is the local journal of found blocks: one small file per
// block, written and fsynced as soon as the block is found, kept until the
// block is settled (in a best chain, or known rejected or stale) and recorded
// in the database, then removed. A restarted daemon reads the journal and
// finishes whatever was left: resubmitting, recording, or both.
//
// Each entry is written to a temporary file, fsynced, renamed over the entry
// and the directory fsynced, so an entry on disk is always whole: a crash
// leaves either the previous version or the new one. An entry that cannot be
// decoded (bit rot) is renamed aside with a ".bad" suffix and reported by
// Load, never silently dropped.
package blocklog

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/adit-pool/adit/share"
)

// Outcome is what the nodes made of a block.
type Outcome string

const (
	// Pending: no node has the block in its best chain yet and it is not
	// known to be rejected or stale; it is resubmitted.
	Pending Outcome = ""
	// Accepted: a node had the block in its best chain.
	Accepted Outcome = "accepted"
	// Rejected: every node answered and none took it as best, or another
	// block holds its height: it is not submitted again.
	Rejected Outcome = "rejected"
)

// Entry is one found block and how far it got.
type Entry struct {
	// Hash is the block hash in raw (internal) byte order.
	Hash   [32]byte
	Height int64
	// Reward is the template's coinbase value (provisional).
	Reward int64
	// Record is the block-finding share (its ID may be zero: the share log
	// assigns it after the journal is written).
	Record share.Record
	// Block is the serialized block.
	Block []byte

	Outcome Outcome
	// Reason is the nodes' answer for a rejected block.
	Reason string
	// Attempts counts submissions.
	Attempts int
	// Recorded: the block is in the database (its found row).
	Recorded bool
	// OutcomeRecorded: the outcome is in the database too.
	OutcomeRecorded bool
}

// Settled reports whether nothing is left to do for e: its outcome is known
// and both the block and its outcome are recorded.
func (e *Entry) Settled() bool {
	return e.Outcome != Pending && e.Recorded && e.OutcomeRecorded
}

// Log is a journal directory. Its methods are safe for concurrent use as long
// as no two goroutines write the same hash at once (the pool's block keeper
// gives each block one owner).
type Log struct {
	dir string
}

const (
	suffix    = ".block"
	tmpSuffix = ".tmp"
	badSuffix = ".bad"
	// formatVersion is written in every entry; Load refuses others.
	formatVersion = 1
)

// Open creates dir if needed, removes temporary files a crash left behind
// and returns the journal.
func Open(dir string) (*Log, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blocklog: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("blocklog: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("blocklog: %w", err)
			}
		}
	}
	return &Log{dir: dir}, syncDir(dir)
}

// Dir is the journal's directory.
func (l *Log) Dir() string { return l.dir }

// Put writes e durably, replacing an earlier version of the same block.
func (l *Log) Put(e *Entry) error {
	data, err := encode(e)
	if err != nil {
		return err
	}
	name := l.path(e.Hash)
	tmp := name + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("blocklog: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("blocklog: write %x: %w", e.Hash, err)
	}
	return nil
}

// Remove deletes the entry of hash (no error if there is none).
func (l *Log) Remove(hash [32]byte) error {
	if err := os.Remove(l.path(hash)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blocklog: %w", err)
	}
	return syncDir(l.dir)
}

// Load returns every entry in the journal, oldest find first. Entries that
// cannot be read are renamed aside (suffix ".bad") and returned in bad.
func (l *Log) Load() (entries []*Entry, bad []error, err error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, nil, fmt.Errorf("blocklog: %w", err)
	}
	for _, de := range ents {
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), suffix) {
			continue
		}
		p := filepath.Join(l.dir, de.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("blocklog: %w", err)
		}
		e, derr := decode(data)
		if derr == nil && l.path(e.Hash) != p {
			derr = errors.New("file name does not match the block hash")
		}
		if derr != nil {
			bad = append(bad, fmt.Errorf("blocklog: %s: %w (kept as %s%s)", de.Name(), derr, de.Name(), badSuffix))
			if err := os.Rename(p, p+badSuffix); err != nil {
				return nil, nil, fmt.Errorf("blocklog: %w", err)
			}
			continue
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Record.Time.Before(entries[j].Record.Time) })
	return entries, bad, nil
}

func (l *Log) path(hash [32]byte) string {
	return filepath.Join(l.dir, displayHex(hash)+suffix)
}

// displayHex is the hash as block explorers show it (byte-reversed).
func displayHex(h [32]byte) string {
	var r [32]byte
	for i := range h {
		r[i] = h[31-i]
	}
	return hex.EncodeToString(r[:])
}

// file is the on-disk form: JSON for a human reading the journal in an
// emergency, with a CRC over the body so bit rot is caught.
type file struct {
	Version int    `json:"version"`
	CRC     uint32 `json:"crc32c"`
	Body    body   `json:"entry"`
}

type body struct {
	Hash            string    `json:"hash"`
	Height          int64     `json:"height"`
	Reward          int64     `json:"reward_sats"`
	Block           string    `json:"block"`
	Outcome         Outcome   `json:"outcome"`
	Reason          string    `json:"reason,omitempty"`
	Attempts        int       `json:"attempts"`
	Recorded        bool      `json:"recorded"`
	OutcomeRecorded bool      `json:"outcome_recorded"`
	ShareID         uint64    `json:"share_id"`
	Time            time.Time `json:"time"`
	Instance        string    `json:"instance"`
	Address         string    `json:"address"`
	Worker          string    `json:"worker"`
	Protocol        uint8     `json:"protocol"`
	JobID           uint32    `json:"job_id"`
	Assigned        float64   `json:"assigned_difficulty"`
	Reached         float64   `json:"reached_difficulty"`
	Network         float64   `json:"network_difficulty"`
	RemoteAddr      string    `json:"remote_addr"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func encode(e *Entry) ([]byte, error) {
	r := &e.Record
	b := body{
		Hash: displayHex(e.Hash), Height: e.Height, Reward: e.Reward, Block: hex.EncodeToString(e.Block),
		Outcome: e.Outcome, Reason: e.Reason, Attempts: e.Attempts,
		Recorded: e.Recorded, OutcomeRecorded: e.OutcomeRecorded,
		ShareID: r.ID, Time: r.Time, Instance: r.Instance, Address: r.Worker.Address, Worker: r.Worker.Name,
		Protocol: uint8(r.Protocol), JobID: r.JobID, Assigned: r.AssignedDifficulty, Reached: r.ReachedDifficulty,
		Network: r.NetworkDifficulty, RemoteAddr: r.RemoteAddr,
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("blocklog: encode: %w", err)
	}
	out, err := json.MarshalIndent(file{Version: formatVersion, CRC: crc32.Checksum(raw, castagnoli), Body: b}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("blocklog: encode: %w", err)
	}
	return append(out, '\n'), nil
}

func decode(data []byte) (*Entry, error) {
	var f file
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f.Version != formatVersion {
		return nil, fmt.Errorf("format version %d, want %d", f.Version, formatVersion)
	}
	raw, err := json.Marshal(f.Body)
	if err != nil {
		return nil, err
	}
	if crc32.Checksum(raw, castagnoli) != f.CRC {
		return nil, errors.New("checksum mismatch")
	}
	b := f.Body
	hb, err := hex.DecodeString(b.Hash)
	if err != nil || len(hb) != 32 {
		return nil, fmt.Errorf("bad hash %q", b.Hash)
	}
	block, err := hex.DecodeString(b.Block)
	if err != nil || len(block) < 80 {
		return nil, errors.New("bad block data")
	}
	switch b.Outcome {
	case Pending, Accepted, Rejected:
	default:
		return nil, fmt.Errorf("unknown outcome %q", b.Outcome)
	}
	e := &Entry{
		Height: b.Height, Reward: b.Reward, Block: block, Outcome: b.Outcome, Reason: b.Reason,
		Attempts: b.Attempts, Recorded: b.Recorded, OutcomeRecorded: b.OutcomeRecorded,
		Record: share.Record{
			ID: b.ShareID, Time: b.Time, Instance: b.Instance,
			Worker:   share.Worker{Address: b.Address, Name: b.Worker},
			Protocol: share.Protocol(b.Protocol), JobID: b.JobID, Height: b.Height,
			AssignedDifficulty: b.Assigned, ReachedDifficulty: b.Reached, NetworkDifficulty: b.Network,
			Block: true, RemoteAddr: b.RemoteAddr,
		},
	}
	for i := range hb {
		e.Hash[i] = hb[31-i]
	}
	if share.DoubleSHA256(block[:80]) != e.Hash {
		return nil, errors.New("block header does not hash to the entry's hash")
	}
	e.Record.Hash = e.Hash
	return e, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blocklog: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blocklog: fsync %s: %w", dir, err)
	}
	return nil
}
