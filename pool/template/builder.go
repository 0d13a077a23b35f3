package template

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
)

// Coinbase scriptSig limits (consensus: 2..100 bytes), as in share.
const (
	MinScriptSig = share.MinScriptSig
	MaxScriptSig = share.MaxScriptSig
	// MaxExtranonceSize is the largest extranonce area share.Job allows.
	MaxExtranonceSize = share.MaxExtranonceSize
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

// Build lays out the job for template t with share.NewJob.
//
// The coinbase is a version-2 transaction with one input (null outpoint,
// sequence 0xffffffff) whose scriptSig is: the BIP34 height (minimally
// encoded, so heights 1..16 are OP_1..OP_16, as Bitcoin Core's
// `CScript() << height` and btcd's ExtractCoinbaseHeight both require), a
// push of the pool tag, then a push of ExtranonceSize bytes holding the
// extranonce, last. Its outputs are CoinbaseValue to the payout script, then
// the zero-value witness commitment when the template has one; locktime 0.
// share.Job.Block adds the witness reserved value when Job.Witness is set.
//
// Hashes are copied in internal byte order. t is not retained except for
// the transaction data slices.
func (b *Builder) Build(t *node.Template, id uint32, clean bool, now time.Time) (*share.Job, error) {
	if t == nil {
		return nil, &BuildError{Err: errors.New("nil template")}
	}
	if t.Height < 1 {
		return nil, &BuildError{Height: t.Height, Err: errors.New("height must be positive")}
	}
	script := share.AppendBIP34Height(make([]byte, 0, MaxScriptSig), t.Height)
	if tag := b.tag(len(script)); len(tag) > 0 {
		script = append(script, byte(len(tag)))
		script = append(script, tag...)
	}
	script = append(script, byte(b.cfg.ExtranonceSize))
	outs := []share.TxOut{{Value: t.CoinbaseValue, Script: b.cfg.PayoutScript}}
	if t.WitnessCommitment != nil {
		outs = append(outs, share.TxOut{Value: 0, Script: t.WitnessCommitment})
	}

	txs := make([][]byte, len(t.Transactions))
	txids := make([][32]byte, len(t.Transactions))
	for i := range t.Transactions {
		txs[i] = t.Transactions[i].Data
		txids[i] = t.Transactions[i].TxID
	}
	j, err := share.NewJob(share.JobSpec{
		ID:       id,
		Height:   t.Height,
		PrevHash: t.PrevHash,
		Version:  t.Version,
		Bits:     t.Bits,
		MinTime:  t.MinTime,
		CurTime:  t.CurTime,
		Coinbase: share.CoinbaseParts{
			Version:         coinbaseVersion,
			ScriptSigPrefix: script,
			ExtranonceSize:  b.cfg.ExtranonceSize,
			Sequence:        0xffffffff,
			Outputs:         outs,
			LockTime:        0,
		},
		Transactions: txs,
		TxIDs:        txids,
		Clean:        clean,
		Created:      now,
	})
	if err != nil {
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
