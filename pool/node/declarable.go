package node

import "github.com/adit-pool/adit/sv2/jdclient"

// Declarable converts t for jdclient.Build: a Job Declaration client (the
// CPU miner's -jd mode, a farm proxy) declares jobs built from its own
// node's templates.
func (t *Template) Declarable() *jdclient.Template {
	out := &jdclient.Template{
		Version: t.Version, PrevHash: t.PrevHash, Height: t.Height, Bits: t.Bits,
		CurTime: t.CurTime, MinTime: t.MinTime, CoinbaseValue: t.CoinbaseValue,
		WitnessCommitment: t.WitnessCommitment,
		Transactions:      make([]jdclient.TemplateTx, len(t.Transactions)),
	}
	for i, tx := range t.Transactions {
		out.Transactions[i] = jdclient.TemplateTx{Data: tx.Data, TxID: tx.TxID, WTxID: tx.WTxID, Fee: tx.Fee}
	}
	return out
}
