package share

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Job is one unit of work derived from a block template, shared read-only by
// every session and both protocols once it is published. Fields must not be
// modified after the job is handed to a Validator.
type Job struct {
	// ID is unique among live jobs of one pool process.
	ID uint32
	// Height is the height of the block this job would create.
	Height int64
	// PrevHash is the previous block hash in internal (header) byte order.
	PrevHash [32]byte
	// Version is the template's block version before any version rolling.
	Version uint32
	// Bits is the compact network target; NetworkTarget its expansion.
	Bits          uint32
	NetworkTarget Target
	// MinTime is the earliest ntime the node accepts; CurTime the template's time.
	MinTime uint32
	CurTime uint32

	// CoinbasePrefix and CoinbaseSuffix are the non-witness (txid) serialization
	// of the coinbase transaction around its extranonce area, which is
	// ExtranonceSize bytes long and sits at the end of the scriptSig.
	CoinbasePrefix []byte
	CoinbaseSuffix []byte
	ExtranonceSize int
	// CoinbaseValue is the total of the coinbase outputs in satoshis.
	CoinbaseValue int64
	// Witness is true when the coinbase carries a witness commitment, so the
	// block's coinbase must carry the 32-byte witness reserved value.
	Witness bool

	// MerkleBranch is the coinbase's merkle path, internal byte order.
	MerkleBranch [][32]byte
	// Transactions are the template's non-coinbase transactions in full
	// (witness) serialization, in block order, with their txids.
	Transactions [][]byte
	TxIDs        [][32]byte
	// TransactionsUnknown is true when the block has transactions besides
	// the coinbase that the pool does not hold (a declared job whose
	// transactions only the Job Declaration Server knows): Transactions is
	// then nil, Block cannot assemble the block and Validate leaves
	// Result.BlockData nil.
	TransactionsUnknown bool

	// Clean is true when the job starts a new chain tip: earlier work is stale.
	Clean bool
	// Declared is true for a job the miner declared (Stratum V2 custom job,
	// Job Declaration) rather than one the pool built from its template. A
	// declared job is private to one session (Session.AddPrivateJob).
	Declared bool
	// Created is when the pool built the job.
	Created time.Time
}

// Coinbase returns the non-witness coinbase transaction for a full extranonce.
func (j *Job) Coinbase(extranonce []byte) []byte {
	cb := make([]byte, 0, len(j.CoinbasePrefix)+len(extranonce)+len(j.CoinbaseSuffix))
	cb = append(cb, j.CoinbasePrefix...)
	cb = append(cb, extranonce...)
	return append(cb, j.CoinbaseSuffix...)
}

// witnessCoinbase converts a non-witness coinbase to its witness serialization
// with the 32-byte all-zero witness reserved value (BIP141).
func witnessCoinbase(cb []byte) []byte {
	out := make([]byte, 0, len(cb)+2+34)
	out = append(out, cb[:4]...)
	out = append(out, 0x00, 0x01) // marker, flag
	out = append(out, cb[4:len(cb)-4]...)
	out = append(out, 0x01, 0x20) // one stack item of 32 bytes
	out = append(out, make([]byte, 32)...)
	return append(out, cb[len(cb)-4:]...)
}

// Block serializes the full block for a solved header and full extranonce,
// or returns nil when the job's transactions are unknown.
func (j *Job) Block(header *Header, extranonce []byte) []byte {
	if j.TransactionsUnknown {
		return nil
	}
	cb := j.Coinbase(extranonce)
	if j.Witness {
		cb = witnessCoinbase(cb)
	}
	size := 80 + 9 + len(cb)
	for _, tx := range j.Transactions {
		size += len(tx)
	}
	var buf bytes.Buffer
	buf.Grow(size)
	buf.Write(header[:])
	buf.Write(appendVarInt(nil, uint64(len(j.Transactions)+1)))
	buf.Write(cb)
	for _, tx := range j.Transactions {
		buf.Write(tx)
	}
	return buf.Bytes()
}

// Validate checks the job's internal consistency; NewJob calls it.
func (j *Job) Validate() error {
	switch {
	case len(j.CoinbasePrefix) < 4+1+36+1:
		return errors.New("share: coinbase prefix too short")
	case len(j.CoinbaseSuffix) < 4+4+1:
		return errors.New("share: coinbase suffix too short")
	case j.ExtranonceSize < 1 || j.ExtranonceSize > MaxExtranonceSize:
		return fmt.Errorf("share: extranonce size %d out of range", j.ExtranonceSize)
	case len(j.Transactions) != len(j.TxIDs):
		return errors.New("share: transactions and txids differ in length")
	case j.TransactionsUnknown && (j.Transactions != nil || len(j.MerkleBranch) == 0):
		return errors.New("share: unknown transactions with transaction data or without a merkle branch")
	}
	return nil
}

// ErrInvalidJob is returned (wrapped, with the reason) by NewJob.
var ErrInvalidJob = errors.New("share: invalid job")

// JobSpec is everything a job is made of, as a pool template or a Stratum
// V2 SetCustomMiningJob gives it. NewJob retains the slices
// (Transactions, TxIDs, MerkleBranch), so the caller must not modify them
// afterwards.
type JobSpec struct {
	ID       uint32
	Height   int64
	PrevHash [32]byte // internal byte order
	Version  uint32
	Bits     uint32
	MinTime  uint32
	CurTime  uint32
	Coinbase CoinbaseParts
	// MerkleBranch is the coinbase's merkle path. With TxIDs it may be left
	// nil: it is computed from them (and must match them when given).
	MerkleBranch [][32]byte
	// Transactions (full serialization, block order) and their TxIDs, when
	// the pool knows them; both nil for a declared job whose transactions
	// the pool does not hold.
	Transactions [][]byte
	TxIDs        [][32]byte
	Clean        bool
	Declared     bool
	Created      time.Time
}

// NewJob lays out and validates a job: the coinbase split from
// spec.Coinbase (CoinbaseParts.Split), its value and witness flag (a witness
// commitment output means the block's coinbase carries the reserved value),
// the network target from Bits, and the merkle branch. It checks that the
// height is positive and that the scriptSig starts with its BIP34 push,
// that Bits encodes a positive target, that the branch is at most
// MaxMerkleBranch long and, with TxIDs, that it is theirs, and that
// Transactions and TxIDs pair up. Errors wrap ErrInvalidJob or
// ErrInvalidCoinbase.
func NewJob(spec JobSpec) (*Job, error) {
	if spec.Height < 1 {
		return nil, fmt.Errorf("%w: height %d", ErrInvalidJob, spec.Height)
	}
	if bip34 := AppendBIP34Height(nil, spec.Height); !bytes.HasPrefix(spec.Coinbase.ScriptSigPrefix, bip34) {
		return nil, fmt.Errorf("%w: scriptSig does not start with the BIP34 push of height %d (%x)", ErrInvalidJob, spec.Height, bip34)
	}
	network := TargetFromCompact(spec.Bits)
	if network == (Target{}) {
		return nil, fmt.Errorf("%w: bits %08x encode no target", ErrInvalidJob, spec.Bits)
	}
	if spec.Transactions != nil && len(spec.Transactions) != len(spec.TxIDs) {
		return nil, fmt.Errorf("%w: %d transactions, %d txids", ErrInvalidJob, len(spec.Transactions), len(spec.TxIDs))
	}
	if spec.Transactions == nil && spec.TxIDs != nil {
		return nil, fmt.Errorf("%w: txids without transactions", ErrInvalidJob)
	}
	branch := spec.MerkleBranch
	if spec.TxIDs != nil {
		branch = MerkleBranch(spec.TxIDs)
		if spec.MerkleBranch != nil && !slices.Equal(spec.MerkleBranch, branch) {
			return nil, fmt.Errorf("%w: merkle branch is not the txids' branch", ErrInvalidJob)
		}
	}
	if len(branch) > MaxMerkleBranch {
		return nil, fmt.Errorf("%w: merkle branch of %d levels (max %d)", ErrInvalidJob, len(branch), MaxMerkleBranch)
	}
	prefix, suffix, err := spec.Coinbase.Split()
	if err != nil {
		return nil, err
	}
	value, _ := spec.Coinbase.Value() // checked by Split
	j := &Job{
		ID:                  spec.ID,
		Height:              spec.Height,
		PrevHash:            spec.PrevHash,
		Version:             spec.Version,
		Bits:                spec.Bits,
		NetworkTarget:       network,
		MinTime:             spec.MinTime,
		CurTime:             spec.CurTime,
		CoinbasePrefix:      prefix,
		CoinbaseSuffix:      suffix,
		ExtranonceSize:      spec.Coinbase.ExtranonceSize,
		CoinbaseValue:       value,
		Witness:             spec.Coinbase.WitnessCommitment(),
		MerkleBranch:        branch,
		Transactions:        spec.Transactions,
		TxIDs:               spec.TxIDs,
		TransactionsUnknown: spec.Transactions == nil && len(branch) > 0,
		Clean:               spec.Clean,
		Declared:            spec.Declared,
		Created:             spec.Created,
	}
	if err := j.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJob, err)
	}
	return j, nil
}
