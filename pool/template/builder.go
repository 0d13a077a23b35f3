package template

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
)

// Coinbase scriptSig limits (consensus: 2..100 bytes).
const (
	MinScriptSig = 2
	MaxScriptSig = 100
	// MaxExtranonceSize is the largest extranonce area share.Job allows.
	MaxExtranonceSize = 32
	// maxPayoutScript is MAX_SCRIPT_SIZE.
	maxPayoutScript = 10000
	coinbaseVersion = 2
)

// BuilderConfig configures the coinbase every job carries.
type BuilderConfig struct {
	// PayoutScript is the output script that receives the coinbase value.
	PayoutScript []byte
	// PoolTag is pushed into the scriptSig after the height; it is truncated
	// (at a UTF-8 boundary) when the scriptSig would exceed 100 bytes.
	PoolTag string
	// ExtranonceSize is the whole extranonce area (instance/session prefix
	// plus the miner's part), e.g. 12 = 4 + 8.
	ExtranonceSize int
}

// Validate checks the configuration.
func (c BuilderConfig) Validate() error {
	switch {
	case len(c.PayoutScript) == 0:
		return errors.New("template: payout script is empty")
	case len(c.PayoutScript) > maxPayoutScript:
		return fmt.Errorf("template: payout script is %d bytes, more than %d", len(c.PayoutScript), maxPayoutScript)
	case c.ExtranonceSize < 1 || c.ExtranonceSize > MaxExtranonceSize:
		return fmt.Errorf("template: extranonce size %d not in [1, %d]", c.ExtranonceSize, MaxExtranonceSize)
	}
	return nil
}

// Builder turns templates into jobs. It is immutable and safe for
// concurrent use.
type Builder struct {
	cfg BuilderConfig
}

// NewBuilder validates cfg and returns a Builder.
func NewBuilder(cfg BuilderConfig) (*Builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.PayoutScript = append([]byte(nil), cfg.PayoutScript...)
	return &Builder{cfg: cfg}, nil
}

// BuildError says why a template could not become a job.
type BuildError struct {
	Height int64
	Err    error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("template: build job for height %d: %v", e.Height, e.Err)
}

func (e *BuildError) Unwrap() error { return e.Err }

// Build lays out the job for template t.
//
// The coinbase is a version-2 transaction with one input (null outpoint)
// whose scriptSig is: the BIP34 height (minimally encoded, so heights 1..16
// are OP_1..OP_16, as Bitcoin Core's `CScript() << height` and btcd's
// ExtractCoinbaseHeight both require), a push of the pool tag, then a push of
// ExtranonceSize bytes holding the extranonce, last. CoinbasePrefix ends
// right before the extranonce; CoinbaseSuffix starts with the input's
// sequence 0xffffffff and holds the outputs (CoinbaseValue to the payout
// script, then the zero-value witness commitment when the template has one)
// and locktime 0. Both are the non-witness serialization; share.Job.Block
// adds the witness reserved value when Job.Witness is set.
//
// Hashes are copied in internal byte order. The job is validated before it
// is returned; t is not retained except for the transaction data slices.
func (b *Builder) Build(t *node.Template, id uint32, clean bool, now time.Time) (*share.Job, error) {
	if t == nil {
		return nil, &BuildError{Err: errors.New("nil template")}
	}
	if t.Height < 1 {
		return nil, &BuildError{Height: t.Height, Err: errors.New("height must be positive")}
	}
	height := bip34Height(t.Height)
	tag := b.tag(len(height))

	script := make([]byte, 0, MaxScriptSig)
	script = append(script, height...)
	if len(tag) > 0 {
		script = append(script, byte(len(tag)))
		script = append(script, tag...)
	}
	script = append(script, byte(b.cfg.ExtranonceSize))
	scriptLen := len(script) + b.cfg.ExtranonceSize
	if scriptLen < MinScriptSig || scriptLen > MaxScriptSig {
		return nil, &BuildError{Height: t.Height, Err: fmt.Errorf("scriptSig is %d bytes", scriptLen)}
	}

	prefix := make([]byte, 0, 4+1+36+1+len(script))
	prefix = binary.LittleEndian.AppendUint32(prefix, coinbaseVersion)
	prefix = append(prefix, 1) // one input
	prefix = append(prefix, make([]byte, 32)...)
	prefix = binary.LittleEndian.AppendUint32(prefix, 0xffffffff)
	prefix = append(prefix, byte(scriptLen))
	prefix = append(prefix, script...)

	nOut := 1
	if t.WitnessCommitment != nil {
		nOut = 2
	}
	suffix := make([]byte, 0, 4+1+2*(8+3)+len(b.cfg.PayoutScript)+len(t.WitnessCommitment)+4)
	suffix = binary.LittleEndian.AppendUint32(suffix, 0xffffffff) // sequence
	suffix = appendVarInt(suffix, uint64(nOut))
	suffix = appendOutput(suffix, t.CoinbaseValue, b.cfg.PayoutScript)
	if t.WitnessCommitment != nil {
		suffix = appendOutput(suffix, 0, t.WitnessCommitment)
	}
	suffix = binary.LittleEndian.AppendUint32(suffix, 0) // locktime

	txs := make([][]byte, len(t.Transactions))
	txids := make([][32]byte, len(t.Transactions))
	for i := range t.Transactions {
		txs[i] = t.Transactions[i].Data
		txids[i] = t.Transactions[i].TxID
	}
	j := &share.Job{
		ID:             id,
		Height:         t.Height,
		PrevHash:       t.PrevHash,
		Version:        t.Version,
		Bits:           t.Bits,
		NetworkTarget:  share.TargetFromCompact(t.Bits),
		MinTime:        t.MinTime,
		CurTime:        t.CurTime,
		CoinbasePrefix: prefix,
		CoinbaseSuffix: suffix,
		ExtranonceSize: b.cfg.ExtranonceSize,
		CoinbaseValue:  t.CoinbaseValue,
		Witness:        t.WitnessCommitment != nil,
		MerkleBranch:   share.MerkleBranch(txids),
		Transactions:   txs,
		TxIDs:          txids,
		Clean:          clean,
		Created:        now,
	}
	if err := j.Validate(); err != nil {
		return nil, &BuildError{Height: t.Height, Err: err}
	}
	return j, nil
}

// tag returns the pool tag, truncated so the scriptSig fits in 100 bytes and
// a single-byte push (at most 75 bytes).
func (b *Builder) tag(heightLen int) []byte {
	room := MaxScriptSig - heightLen - 1 - b.cfg.ExtranonceSize - 1 // minus both push opcodes
	room = min(room, 75)
	tag := b.cfg.PoolTag
	if room <= 0 {
		return nil
	}
	if len(tag) > room {
		tag = tag[:room]
		for len(tag) > 0 && !utf8.ValidString(tag) {
			tag = tag[:len(tag)-1]
		}
	}
	return []byte(tag)
}

// bip34Height returns the minimal script push of height (share.HeightPush).
func bip34Height(h int64) []byte { return share.HeightPush(h) }

func appendOutput(b []byte, value int64, script []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(value))
	b = appendVarInt(b, uint64(len(script)))
	return append(b, script...)
}

func appendVarInt(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
	}
}
