package farm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/sv2/jdclient"
)

// Policy is the farm's transaction policy: which of its node's template
// transactions the declared jobs leave out. jdclient.Build leaves out the
// descendants of a transaction left out as well (whatever their own
// merits) and takes the fees of all of them off the coinbase value.
type Policy struct {
	txids      map[chainhash.Hash]bool
	scripts    map[string]bool // output scripts, as strings of their bytes
	minFeeRate float64         // sat/vB; 0: no minimum
}

// NewPolicy checks c's transaction rules and returns the policy; each
// error names its key.
func NewPolicy(c PolicyConfig) (*Policy, error) {
	p := &Policy{txids: map[chainhash.Hash]bool{}, scripts: map[string]bool{}, minFeeRate: c.MinFeeRate}
	var errs []error
	for _, s := range c.ExcludeTxids {
		h, err := node.ParseHash(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy.exclude_txids: %w", err))
			continue
		}
		p.txids[h] = true
	}
	for _, s := range c.ExcludeScripts {
		script, err := ParseScript(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("policy.exclude_scripts: %w", err))
			continue
		}
		p.scripts[string(script)] = true
	}
	if math.IsNaN(c.MinFeeRate) || math.IsInf(c.MinFeeRate, 0) || c.MinFeeRate < 0 {
		errs = append(errs, fmt.Errorf("policy.min_fee_rate: %v sat/vB, want a number >= 0", c.MinFeeRate))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Exclude reports whether tx is left out: its txid is listed, one of its
// outputs pays a listed script, or its own fee rate (the node's fee over
// its virtual size) is below the minimum — a low-fee parent takes its
// children along, whatever they pay. A transaction these rules cannot read
// (it does not parse) is left out too: the farm mines nothing it has not
// judged. It is jdclient.BuildConfig.Exclude.
func (p *Policy) Exclude(tx *jdclient.TemplateTx) bool {
	if p.txids[tx.TxID] {
		return true
	}
	if len(p.scripts) == 0 && p.minFeeRate == 0 {
		return false
	}
	var msg wire.MsgTx
	if err := msg.Deserialize(bytes.NewReader(tx.Data)); err != nil {
		return true
	}
	for _, o := range msg.TxOut {
		if p.scripts[string(o.PkScript)] {
			return true
		}
	}
	return p.minFeeRate > 0 && float64(tx.Fee)/float64(VSize(&msg)) < p.minFeeRate
}

// VSize is tx's virtual size in vbytes (BIP141): its weight, 3 × the size
// without witness plus the full size, over 4, rounded up.
func VSize(tx *wire.MsgTx) int64 {
	weight := int64(3*tx.SerializeSizeStripped() + tx.SerializeSize())
	return (weight + blockchain.WitnessScaleFactor - 1) / blockchain.WitnessScaleFactor
}

// ParseScript returns the output script s names: a Bitcoin address of any
// network, or the script itself in hex.
func ParseScript(s string) ([]byte, error) {
	if script, err := pool.AddressScript(s); err == nil {
		return script, nil
	}
	script, err := hex.DecodeString(s)
	if err != nil || len(script) == 0 {
		return nil, fmt.Errorf("%q is neither a Bitcoin address nor a hex output script", s)
	}
	return script, nil
}
