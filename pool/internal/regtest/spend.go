package regtest

import (
	"bytes"
	"context"
	"fmt"

	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Spend returns a signed transaction spending output index of prev, which
// must pay the harness key (MiningScript, P2WPKH), back to MiningScript
// less fee: a witness transaction any regtest node accepts once prev is
// confirmed or in its mempool.
func (n *Node) Spend(prev *wire.MsgTx, index uint32, fee int64) (*wire.MsgTx, error) {
	if int(index) >= len(prev.TxOut) {
		return nil, fmt.Errorf("regtest: spend: output %d of %d", index, len(prev.TxOut))
	}
	out := prev.TxOut[index]
	if !bytes.Equal(out.PkScript, n.MiningScript) {
		return nil, fmt.Errorf("regtest: spend: output pays %x, not the harness key", out.PkScript)
	}
	h := prev.TxHash()
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&h, index), nil, nil))
	tx.AddTxOut(wire.NewTxOut(out.Value-fee, n.MiningScript))
	fetcher := txscript.NewCannedPrevOutputFetcher(out.PkScript, out.Value)
	wit, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, out.Value,
		out.PkScript, txscript.SigHashAll, n.MiningKey, true)
	if err != nil {
		return nil, err
	}
	tx.TxIn[0].Witness = wit
	return tx, nil
}

// Coinbase returns the coinbase transaction of the best-chain block at
// height.
func (n *Node) Coinbase(ctx context.Context, c *node.Client, height int64) (*wire.MsgTx, error) {
	h, err := c.GetBlockHash(ctx, height)
	if err != nil {
		return nil, err
	}
	raw, err := c.GetBlock(ctx, h)
	if err != nil {
		return nil, err
	}
	blk, err := btcutil.NewBlockFromBytes(raw)
	if err != nil {
		return nil, err
	}
	return blk.Transactions()[0].MsgTx(), nil
}

// Broadcast serializes tx and sends it to c's mempool.
func Broadcast(ctx context.Context, c *node.Client, tx *wire.MsgTx) ([]byte, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return nil, err
	}
	if _, err := c.SendRawTransaction(ctx, buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
