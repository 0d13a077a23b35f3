package jdclient

import (
	"bytes"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/codec"
)

// Coinbase constants of every declared job.
const (
	CoinbaseVersion  = 2
	CoinbaseSequence = 0xffffffff
	CoinbaseLocktime = 0
	// MaxScriptSig is the consensus limit on a coinbase scriptSig.
	MaxScriptSig = 100
	// MaxExtranonceSize is the largest full extranonce (B0_32 on the wire).
	MaxExtranonceSize = 32
	// maxOutputs bounds the outputs accepted from the pool.
	maxOutputs = 64
)

// BuildConfig says how Build lays out a declared job.
type BuildConfig struct {
	// Tag is pushed into the scriptSig after the BIP34 height; it is
	// truncated (at a UTF-8 boundary) to fit the 100-byte scriptSig.
	Tag string
	// ExtranonceSize is the channel's full extranonce: the pool's
	// extranonce_prefix plus the miner's extranonce_size (1..32).
	ExtranonceSize int
	// Exclude, when not nil, is the JDC's transaction policy: a template
	// transaction it reports is left out, and so is every template
	// transaction spending an output of one left out (Exclude is not asked
	// about those). It sees the whole transaction and must not keep or
	// modify it.
	Exclude func(tx *TemplateTx) bool
}

// Job is a declared job: everything DeclareMiningJob and the matching
// SetCustomMiningJob carry, and the share.Job to hash and assemble the
// block with. A Job is immutable once built.
type Job struct {
	Height   int64
	Version  uint32
	PrevHash [32]byte
	NBits    uint32
	// MinNTime is the template's curtime: the header time the miner starts
	// at (never below the node's mintime).
	MinNTime uint32
	// PoolValue is what the pool payout output (the first of the pool's
	// outputs) receives: the coinbase value of the kept transactions less
	// any value the pool's other outputs carry.
	PoolValue int64

	// DeclarePrefix and DeclareSuffix are the coinbase in its witness
	// serialization (marker, flag, the 32-byte zero witness reserved
	// value) around the ExtranonceSize-byte extranonce area, the last bytes
	// of the scriptSig: DeclareMiningJob's coinbase_tx_prefix and _suffix.
	DeclarePrefix, DeclareSuffix []byte
	// Wtxids are the kept transactions' wtxids in block order, internal
	// byte order (wtxid_list); Txs their full serializations, so Txs[i] is
	// the answer for position i of a ProvideMissingTransactions.
	Wtxids []codec.U256
	Txs    [][]byte
	// Excluded are the template transactions the policy left out.
	Excluded []chainhash.Hash

	// ScriptSigPrefix is the scriptSig before the extranonce (BIP34
	// height push, tag push, the extranonce push opcode):
	// SetCustomMiningJob's coinbase_prefix. Outputs are the coinbase
	// outputs, CompactSize-prefixed, byte-equal to the declared ones:
	// coinbase_tx_outputs. MerklePath is the coinbase's path from the kept
	// transactions' txids, internal byte order.
	ScriptSigPrefix []byte
	Outputs         []byte
	MerklePath      [][32]byte

	// Share is the job in the pool's model: the non-witness coinbase
	// around the same extranonce area, the merkle branch and the
	// transactions; Share.Block assembles the block for a solved header.
	Share *share.Job
}

// Declare returns the DeclareMiningJob for j with the allocated token.
func (j *Job) Declare(requestID uint32, token []byte) *codec.DeclareMiningJob {
	return &codec.DeclareMiningJob{RequestID: requestID, MiningJobToken: token, Version: j.Version,
		CoinbaseTxPrefix: j.DeclarePrefix, CoinbaseTxSuffix: j.DeclareSuffix, WtxidList: j.Wtxids}
}

// CustomJob returns the SetCustomMiningJob for j on channel channelID with
// the token DeclareMiningJob.Success returned (the request id is the
// mining client's to assign).
func (j *Job) CustomJob(channelID uint32, token []byte) *codec.SetCustomMiningJob {
	return &codec.SetCustomMiningJob{ChannelID: channelID, MiningJobToken: token, Version: j.Version,
		PrevHash: j.PrevHash, MinNTime: j.MinNTime, NBits: j.NBits,
		CoinbaseTxVersion: CoinbaseVersion, CoinbasePrefix: j.ScriptSigPrefix,
		CoinbaseTxInputNSequence: CoinbaseSequence, CoinbaseTxOutputs: j.Outputs,
		CoinbaseTxLocktime: CoinbaseLocktime, MerklePath: j.MerklePath}
}

// ParseOutputs decodes a CompactSize-prefixed output vector
// (AllocateMiningJobToken.Success.coinbase_tx_outputs): at least one
// output, no trailing bytes, values within the money range.
func ParseOutputs(b []byte) ([]*wire.TxOut, error) {
	parsed, err := share.ParseOutputs(b)
	if err != nil {
		return nil, fmt.Errorf("jdclient: outputs: %w", err)
	}
	if len(parsed) == 0 || len(parsed) > maxOutputs {
		return nil, fmt.Errorf("jdclient: outputs: %d outputs, want 1..%d", len(parsed), maxOutputs)
	}
	outs := make([]*wire.TxOut, len(parsed))
	for i, o := range parsed {
		outs[i] = wire.NewTxOut(o.Value, o.Script)
	}
	return outs, nil
}

// Template is what Build needs of a block template from the miner's own
// node (getblocktemplate, btcd or Bitcoin Core); hashes in internal byte
// order. The caller converts its node client's template (this package
// does not depend on one).
type Template struct {
	Version  uint32
	PrevHash chainhash.Hash
	Height   int64
	Bits     uint32
	// CurTime is the node's suggested header time, MinTime the earliest.
	CurTime, MinTime uint32
	// CoinbaseValue is subsidy plus the fees of Transactions.
	CoinbaseValue int64
	// Transactions are the non-coinbase transactions in block order.
	Transactions []TemplateTx
	// WitnessCommitment is the node's commitment output script, nil when
	// it sent none; Build checks it against its own when it keeps every
	// transaction.
	WitnessCommitment []byte
}

// TemplateTx is one transaction of a Template.
type TemplateTx struct {
	Data        []byte // full serialization, witness included
	TxID, WTxID chainhash.Hash
	Fee         int64 // as the node reported it, sats
}

// Build lays out the declared job for template t and the pool's required
// outputs (as AllocateMiningJobToken.Success sends them).
//
// The coinbase is version 2 with one input: null outpoint, scriptSig =
// BIP34 height push ‖ tag push ‖ OP_PUSHBYTES_n ‖ n extranonce bytes (n =
// cfg.ExtranonceSize, the scriptSig's last bytes), sequence 0xffffffff;
// outputs = the pool's outputs in their order, the first funded with the
// whole coinbase value of the kept transactions (less what the others
// carry), then the 0-value witness commitment; locktime 0. The witness
// commitment is always present: computed from the kept transactions'
// wtxids (when the policy left nothing out it must equal the node's, which
// Build checks), so the coinbase always has the BIP141 layout SRI's JDS
// assumes (a 43-byte head before the scriptSig length), even for a btcd
// template without one.
//
// The coinbase value of the kept transactions is the template's less the
// fees (as the node reported them) of the transactions left out.
func Build(t *Template, poolOutputs []byte, cfg BuildConfig, now time.Time) (*Job, error) {
	if t == nil || t.Height < 1 {
		return nil, errors.New("jdclient: build: no template or height < 1")
	}
	if cfg.ExtranonceSize < 1 || cfg.ExtranonceSize > MaxExtranonceSize {
		return nil, fmt.Errorf("jdclient: build: extranonce size %d not in [1, %d]", cfg.ExtranonceSize, MaxExtranonceSize)
	}
	outs, err := ParseOutputs(poolOutputs)
	if err != nil {
		return nil, err
	}
	kept, excluded, value, err := selectTxs(t, cfg.Exclude)
	if err != nil {
		return nil, err
	}
	var others int64
	for _, o := range outs[1:] {
		others += o.Value
	}
	if others > value {
		return nil, fmt.Errorf("jdclient: build: the pool's outputs carry %d sat, more than the coinbase value %d", others, value)
	}
	wtxids := make([][32]byte, len(kept))
	txids := make([][32]byte, len(kept))
	txs := make([][]byte, len(kept))
	for i, tx := range kept {
		wtxids[i], txids[i], txs[i] = tx.WTxID, tx.TxID, tx.Data
	}
	commitment := witnessCommitment(wtxids)
	if len(excluded) == 0 && t.WitnessCommitment != nil && !bytes.Equal(commitment, t.WitnessCommitment) {
		return nil, fmt.Errorf("jdclient: build: witness commitment %x differs from the node's %x", commitment, t.WitnessCommitment)
	}

	script, err := scriptSigPrefix(t.Height, cfg.Tag, cfg.ExtranonceSize)
	if err != nil {
		return nil, err
	}
	cb := wire.NewMsgTx(CoinbaseVersion)
	fullScript := append(append([]byte(nil), script...), make([]byte, cfg.ExtranonceSize)...)
	in := wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{}, wire.MaxPrevOutIndex), fullScript, nil)
	in.Sequence = CoinbaseSequence
	in.Witness = wire.TxWitness{make([]byte, 32)}
	cb.AddTxIn(in)
	for i, o := range outs {
		v := o.Value
		if i == 0 {
			v = value - others
		}
		cb.AddTxOut(wire.NewTxOut(v, o.PkScript))
	}
	cb.AddTxOut(wire.NewTxOut(0, commitment))
	cb.LockTime = CoinbaseLocktime

	var outputs bytes.Buffer
	if err := wire.WriteVarInt(&outputs, 0, uint64(len(cb.TxOut))); err != nil {
		return nil, err
	}
	for _, o := range cb.TxOut {
		if err := wire.WriteTxOut(&outputs, 0, CoinbaseVersion, o); err != nil {
			return nil, err
		}
	}
	var wit, base bytes.Buffer
	if err := cb.Serialize(&wit); err != nil {
		return nil, err
	}
	if err := cb.SerializeNoWitness(&base); err != nil {
		return nil, err
	}
	// The extranonce area ends the scriptSig, right before the sequence:
	// the prefix/suffix cut is at the same distance from the scriptSig's
	// start in both serializations (the witness one has marker and flag
	// after the version).
	cut := 4 + 1 + 36 + wire.VarIntSerializeSize(uint64(len(fullScript))) + len(script)
	j := &Job{
		Height: t.Height, Version: t.Version, PrevHash: t.PrevHash, NBits: t.Bits, MinNTime: t.CurTime,
		PoolValue:       value - others,
		DeclarePrefix:   bytes.Clone(wit.Bytes()[:cut+2]),
		DeclareSuffix:   bytes.Clone(wit.Bytes()[cut+2+cfg.ExtranonceSize:]),
		Txs:             txs,
		Excluded:        excluded,
		ScriptSigPrefix: script,
		Outputs:         outputs.Bytes(),
		MerklePath:      share.MerkleBranch(txids),
	}
	j.Wtxids = make([]codec.U256, len(wtxids))
	copy(j.Wtxids, wtxids)
	j.Share = &share.Job{
		Height: t.Height, PrevHash: t.PrevHash, Version: t.Version, Bits: t.Bits,
		NetworkTarget: share.TargetFromCompact(t.Bits), MinTime: t.MinTime, CurTime: t.CurTime,
		CoinbasePrefix: bytes.Clone(base.Bytes()[:cut]),
		CoinbaseSuffix: bytes.Clone(base.Bytes()[cut+cfg.ExtranonceSize:]),
		ExtranonceSize: cfg.ExtranonceSize, CoinbaseValue: value, Witness: true,
		MerkleBranch: j.MerklePath, Transactions: txs, TxIDs: txids, Clean: true, Created: now,
	}
	if err := j.Share.Validate(); err != nil {
		return nil, fmt.Errorf("jdclient: build: %w", err)
	}
	return j, nil
}

// selectTxs applies the exclusion policy: it returns the kept transactions
// in block order, the txids left out (those excluded and their
// descendants in the template) and the coinbase value without the fees of
// those left out.
func selectTxs(t *Template, exclude func(*TemplateTx) bool) ([]TemplateTx, []chainhash.Hash, int64, error) {
	if exclude == nil {
		return t.Transactions, nil, t.CoinbaseValue, nil
	}
	out := make(map[chainhash.Hash]bool)
	var kept []TemplateTx
	var excluded []chainhash.Hash
	value := t.CoinbaseValue
	for i := range t.Transactions {
		tx := &t.Transactions[i]
		drop := false
		if len(out) > 0 {
			var msg wire.MsgTx
			if err := msg.Deserialize(bytes.NewReader(tx.Data)); err != nil {
				return nil, nil, 0, fmt.Errorf("jdclient: build: transaction %v: %w", tx.TxID, err)
			}
			for _, in := range msg.TxIn {
				drop = drop || out[in.PreviousOutPoint.Hash]
			}
		}
		drop = drop || exclude(tx)
		if !drop {
			kept = append(kept, *tx)
			continue
		}
		out[tx.TxID] = true
		excluded = append(excluded, tx.TxID)
		value -= tx.Fee
	}
	if value < 0 {
		return nil, nil, 0, fmt.Errorf("jdclient: build: coinbase value %d after leaving transactions out", value)
	}
	return kept, excluded, value, nil
}

// witnessCommitment returns the BIP141 commitment output script for a block
// whose non-coinbase transactions have wtxids (the coinbase's wtxid is
// zero, its witness reserved value 32 zero bytes).
func witnessCommitment(wtxids [][32]byte) []byte {
	root := share.MerkleRoot([32]byte{}, share.MerkleBranch(wtxids))
	var buf [64]byte
	copy(buf[:32], root[:])
	commitment := share.DoubleSHA256(buf[:])
	return append([]byte{txscript.OP_RETURN, txscript.OP_DATA_36, 0xaa, 0x21, 0xa9, 0xed}, commitment[:]...)
}

// scriptSigPrefix returns the scriptSig before an extranonce of enSize
// bytes: the BIP34 height push (minimal, OP_1..OP_16 for 1..16), a push of
// the tag (truncated so the scriptSig fits in 100 bytes; left out when
// empty) and OP_PUSHBYTES_enSize.
func scriptSigPrefix(height int64, tag string, enSize int) ([]byte, error) {
	h, err := txscript.NewScriptBuilder().AddInt64(height).Script()
	if err != nil {
		return nil, fmt.Errorf("jdclient: build: height %d: %w", height, err)
	}
	room := min(MaxScriptSig-len(h)-1-enSize-1, txscript.OP_DATA_75)
	if len(tag) > room {
		tag = tag[:max(room, 0)]
		for len(tag) > 0 && !utf8.ValidString(tag) {
			tag = tag[:len(tag)-1]
		}
	}
	s := append([]byte(nil), h...)
	if tag != "" {
		s = append(append(s, byte(len(tag))), tag...)
	}
	s = append(s, byte(enSize))
	if n := len(s) + enSize; n < 2 || n > MaxScriptSig {
		return nil, fmt.Errorf("jdclient: build: scriptSig would be %d bytes", n)
	}
	return s, nil
}
