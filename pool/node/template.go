package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// WitnessCommitmentPrefix starts a BIP141 witness commitment output script:
// OP_RETURN, a 36-byte push, and the commitment header aa21a9ed.
var witnessCommitmentPrefix = [6]byte{0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed}

// WitnessCommitmentScript returns the full commitment output script for a
// bare 32-byte commitment hash.
func WitnessCommitmentScript(commitment [32]byte) []byte {
	s := make([]byte, 0, 38)
	s = append(s, witnessCommitmentPrefix[:]...)
	return append(s, commitment[:]...)
}

// Template is a parsed, validated getblocktemplate reply. Hashes are
// chainhash.Hash values, i.e. internal byte order (the order in headers and
// transactions, reversed from the hex the RPC shows).
type Template struct {
	Version  uint32
	PrevHash chainhash.Hash
	// Transactions are the non-coinbase transactions in block order.
	Transactions []TemplateTx
	// CoinbaseValue is subsidy plus fees, in satoshis.
	CoinbaseValue int64
	Bits          uint32
	// Target is the expansion of Bits.
	Target share.Target
	Height int64
	// CurTime is the node's suggested header time, MinTime the earliest it
	// accepts.
	CurTime uint32
	MinTime uint32
	// LongPollID identifies the template for a longpoll ("" if the node
	// offers none).
	LongPollID string
	// WitnessCommitment is the full commitment output script (6a24aa21a9ed ‖
	// 32-byte hash), whichever form the node sent; nil when the node sent
	// none (btcd omits it when no transaction has a witness).
	WitnessCommitment []byte
}

// TemplateTx is one template transaction.
type TemplateTx struct {
	// Data is the full serialization (with witness, when it has one).
	Data []byte
	// TxID is the hash of the non-witness serialization, WTxID of Data.
	TxID  chainhash.Hash
	WTxID chainhash.Hash
	// Fee in satoshis (as reported by the node; informational).
	Fee int64
	// HasWitness reports whether Data carries witness data.
	HasWitness bool
}

// TxIDs returns the transactions' txids as raw 32-byte arrays, in block order.
func (t *Template) TxIDs() [][32]byte {
	out := make([][32]byte, len(t.Transactions))
	for i := range t.Transactions {
		out[i] = t.Transactions[i].TxID
	}
	return out
}

type gbtTx struct {
	Data string `json:"data"`
	TxID string `json:"txid"`
	Hash string `json:"hash"`
	Fee  *int64 `json:"fee"`
}

type gbtReply struct {
	Version                  *int64  `json:"version"`
	PreviousBlockHash        string  `json:"previousblockhash"`
	Transactions             []gbtTx `json:"transactions"`
	CoinbaseValue            *int64  `json:"coinbasevalue"`
	Bits                     string  `json:"bits"`
	Target                   string  `json:"target"`
	Height                   *int64  `json:"height"`
	CurTime                  *int64  `json:"curtime"`
	MinTime                  *int64  `json:"mintime"`
	LongPollID               string  `json:"longpollid"`
	DefaultWitnessCommitment string  `json:"default_witness_commitment"`
}

// ParseTemplate decodes and validates a getblocktemplate result: every hex
// field, every hash length, each transaction's txid and wtxid recomputed from
// its data, the target against bits, and the witness commitment's form.
func ParseTemplate(raw []byte) (*Template, error) {
	var r gbtReply
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, &ParseError{Method: "getblocktemplate", Err: err}
	}
	t, field, err := r.parse()
	if err != nil {
		return nil, &ParseError{Method: "getblocktemplate", Field: field, Err: err}
	}
	return t, nil
}

var errMissing = errors.New("missing")

func (r *gbtReply) parse() (*Template, string, error) {
	t := &Template{LongPollID: r.LongPollID}
	if r.Version == nil {
		return nil, "version", errMissing
	}
	switch v := *r.Version; {
	case v >= math.MinInt32 && v < 0:
		t.Version = uint32(int32(v))
	case v >= 0 && v <= math.MaxUint32:
		t.Version = uint32(v)
	default:
		return nil, "version", fmt.Errorf("%d out of range", v)
	}
	h, err := ParseHash(r.PreviousBlockHash)
	if err != nil {
		return nil, "previousblockhash", err
	}
	t.PrevHash = h
	if r.CoinbaseValue == nil {
		return nil, "coinbasevalue", errMissing
	}
	if *r.CoinbaseValue < 0 || *r.CoinbaseValue > 21e6*1e8 {
		return nil, "coinbasevalue", fmt.Errorf("%d out of range", *r.CoinbaseValue)
	}
	t.CoinbaseValue = *r.CoinbaseValue
	if len(r.Bits) != 8 {
		return nil, "bits", fmt.Errorf("%q is not 8 hex digits", r.Bits)
	}
	bits, err := strconv.ParseUint(r.Bits, 16, 32)
	if err != nil {
		return nil, "bits", err
	}
	t.Bits = uint32(bits)
	t.Target = share.TargetFromCompact(t.Bits)
	if t.Target == (share.Target{}) {
		return nil, "bits", fmt.Errorf("%08x encodes no valid target", t.Bits)
	}
	if r.Target != "" {
		tb, err := hex.DecodeString(r.Target)
		if err != nil || len(tb) != 32 {
			return nil, "target", fmt.Errorf("%q is not 32 hex bytes", r.Target)
		}
		var le [32]byte
		for i := range tb {
			le[31-i] = tb[i]
		}
		if share.TargetFromLE(le) != t.Target {
			return nil, "target", fmt.Errorf("%s does not match bits %08x", r.Target, t.Bits)
		}
	}
	if r.Height == nil {
		return nil, "height", errMissing
	}
	if *r.Height < 1 || *r.Height > math.MaxInt32 {
		return nil, "height", fmt.Errorf("%d out of range", *r.Height)
	}
	t.Height = *r.Height
	if r.CurTime == nil {
		return nil, "curtime", errMissing
	}
	if *r.CurTime < 0 || *r.CurTime > math.MaxUint32 {
		return nil, "curtime", fmt.Errorf("%d out of range", *r.CurTime)
	}
	t.CurTime = uint32(*r.CurTime)
	if r.MinTime != nil {
		if *r.MinTime < 0 || *r.MinTime > math.MaxUint32 {
			return nil, "mintime", fmt.Errorf("%d out of range", *r.MinTime)
		}
		t.MinTime = uint32(*r.MinTime)
	}
	witness := false
	t.Transactions = make([]TemplateTx, len(r.Transactions))
	for i := range r.Transactions {
		tx, err := r.Transactions[i].parse()
		if err != nil {
			return nil, fmt.Sprintf("transactions[%d]", i), err
		}
		witness = witness || tx.HasWitness
		t.Transactions[i] = tx
	}
	if c := r.DefaultWitnessCommitment; c != "" {
		b, err := hex.DecodeString(c)
		if err != nil {
			return nil, "default_witness_commitment", err
		}
		switch {
		case len(b) == 32: // btcd: the bare commitment hash
			t.WitnessCommitment = WitnessCommitmentScript([32]byte(b))
		case len(b) == 38 && bytes.HasPrefix(b, witnessCommitmentPrefix[:]): // Core: the script
			t.WitnessCommitment = b
		default:
			return nil, "default_witness_commitment", fmt.Errorf("%d bytes is neither a commitment hash nor a commitment script", len(b))
		}
	} else if witness {
		return nil, "default_witness_commitment", errors.New("missing although a transaction has a witness")
	}
	return t, "", nil
}

func (g *gbtTx) parse() (TemplateTx, error) {
	var tx TemplateTx
	data, err := hex.DecodeString(g.Data)
	if err != nil {
		return tx, fmt.Errorf("data: %w", err)
	}
	if len(data) < 10 {
		return tx, fmt.Errorf("data: %d bytes is too short for a transaction", len(data))
	}
	var msg wire.MsgTx
	rd := bytes.NewReader(data)
	if err := msg.Deserialize(rd); err != nil {
		return tx, fmt.Errorf("data: %w", err)
	}
	if rd.Len() != 0 {
		return tx, fmt.Errorf("data: %d trailing bytes", rd.Len())
	}
	tx.Data = data
	tx.TxID = msg.TxHash()
	tx.WTxID = msg.WitnessHash()
	tx.HasWitness = msg.HasWitness()
	if g.TxID != "" {
		want, err := ParseHash(g.TxID)
		if err != nil {
			return tx, fmt.Errorf("txid: %w", err)
		}
		if want != tx.TxID {
			return tx, fmt.Errorf("txid %s does not match data (%s)", g.TxID, tx.TxID)
		}
	}
	if g.Hash != "" {
		want, err := ParseHash(g.Hash)
		if err != nil {
			return tx, fmt.Errorf("hash: %w", err)
		}
		if want != tx.WTxID {
			return tx, fmt.Errorf("hash %s does not match data (%s)", g.Hash, tx.WTxID)
		}
	}
	if g.Fee != nil {
		tx.Fee = *g.Fee
	}
	return tx, nil
}

// ParseHash parses a 64-digit hash in RPC (display, byte-reversed) order.
func ParseHash(s string) (chainhash.Hash, error) {
	if len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, fmt.Errorf("hash %q is not %d hex digits", s, 2*chainhash.HashSize)
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, err
	}
	return *h, nil
}
