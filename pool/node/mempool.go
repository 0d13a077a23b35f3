package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// CodeNotFound is the code both nodes use for a transaction that is not in
// the mempool (getrawtransaction, Core's getmempoolentry). It is the same
// number as CodeInvalidAddress.
const CodeNotFound = -5

// GetRawMempool returns the txids of the node's mempool (getrawmempool
// false), in the node's order.
func (c *Client) GetRawMempool(ctx context.Context) ([]chainhash.Hash, error) {
	const method = "getrawmempool"
	var ss []string
	if err := c.call(ctx, c.http, method, []any{false}, &ss); err != nil {
		return nil, err
	}
	out := make([]chainhash.Hash, len(ss))
	for i, s := range ss {
		h, err := ParseHash(s)
		if err != nil {
			return nil, &ParseError{Method: method, Err: err}
		}
		out[i] = h
	}
	return out, nil
}

// MempoolEntry is what a node reports about one mempool transaction.
type MempoolEntry struct {
	TxID chainhash.Hash
	// WTxID is zero when the node does not report it: btcd's verbose
	// getrawmempool has no wtxid; Core's has one, and so has getmempoolentry.
	WTxID chainhash.Hash
	// Fee is the transaction's own (base) fee in satoshis, -1 if unknown.
	Fee int64
}

// HasWTxID reports whether the node gave the wtxid.
func (e *MempoolEntry) HasWTxID() bool { return e.WTxID != chainhash.Hash{} }

// mempoolEntryJSON covers both nodes' verbose entries: btcd gives "fee"
// (BTC), Bitcoin Core "wtxid" and "fees":{"base":BTC,...} (Core dropped the
// top-level "fee" in v23).
type mempoolEntryJSON struct {
	WTxID string   `json:"wtxid"`
	Fee   *float64 `json:"fee"`
	Fees  *struct {
		Base *float64 `json:"base"`
	} `json:"fees"`
}

func (j *mempoolEntryJSON) entry(method string, txid chainhash.Hash) (MempoolEntry, error) {
	e := MempoolEntry{TxID: txid, Fee: -1}
	if j.WTxID != "" {
		h, err := ParseHash(j.WTxID)
		if err != nil {
			return e, &ParseError{Method: method, Field: "wtxid", Err: err}
		}
		e.WTxID = h
	}
	btc := j.Fee
	if j.Fees != nil && j.Fees.Base != nil {
		btc = j.Fees.Base
	}
	if btc != nil {
		sats, err := btcToSats(*btc)
		if err != nil {
			return e, &ParseError{Method: method, Field: "fee", Err: err}
		}
		e.Fee = sats
	}
	return e, nil
}

// btcToSats converts a BTC amount as the nodes print it to satoshis. A
// float64 holds every amount up to 21e6 BTC to well under half a satoshi,
// so rounding recovers the node's integer exactly.
func btcToSats(btc float64) (int64, error) {
	if math.IsNaN(btc) || btc < 0 || btc > 21e6 {
		return 0, fmt.Errorf("amount %v out of range", btc)
	}
	a, err := btcutil.NewAmount(btc)
	return int64(a), err
}

// GetRawMempoolVerbose returns every mempool entry (getrawmempool true), in
// no particular order. Its reply is several times larger than
// GetRawMempool's: btcd needs it for fees (it lacks getmempoolentry).
func (c *Client) GetRawMempoolVerbose(ctx context.Context) ([]MempoolEntry, error) {
	const method = "getrawmempool"
	var m map[string]mempoolEntryJSON
	if err := c.call(ctx, c.http, method, []any{true}, &m); err != nil {
		return nil, err
	}
	out := make([]MempoolEntry, 0, len(m))
	for k, j := range m {
		txid, err := ParseHash(k)
		if err != nil {
			return nil, &ParseError{Method: method, Err: err}
		}
		e, err := j.entry(method, txid)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// GetMempoolEntries calls getmempoolentry for each txid in one batch
// (Bitcoin Core; btcd answers every call with "Command unimplemented",
// code -1). errs[i] is call i's error: an *RPCError with CodeNotFound for a
// transaction that has left the mempool. err fails the whole batch; at
// most MaxBatch txids.
func (c *Client) GetMempoolEntries(ctx context.Context, txids []chainhash.Hash) (entries []MempoolEntry, errs []error, err error) {
	const method = "getmempoolentry"
	params := make([][]any, len(txids))
	js := make([]mempoolEntryJSON, len(txids))
	results := make([]any, len(txids))
	for i := range txids {
		params[i] = []any{txids[i].String()}
		results[i] = &js[i]
	}
	errs, err = c.CallBatch(ctx, method, params, results)
	if err != nil {
		return nil, nil, err
	}
	entries = make([]MempoolEntry, len(txids))
	for i := range txids {
		if errs[i] != nil {
			entries[i] = MempoolEntry{TxID: txids[i], Fee: -1}
			continue
		}
		entries[i], errs[i] = js[i].entry(method, txids[i])
	}
	return entries, errs, nil
}

// RawTx is a verbose getrawtransaction result.
type RawTx struct {
	// Data is the full (witness) serialization.
	Data []byte
	TxID chainhash.Hash
	// WTxID is the node's "hash" field. The client does not check it
	// against Data: callers that depend on it decode Data themselves.
	WTxID chainhash.Hash
}

// GetRawTransactionsVerbose calls `getrawtransaction txid 1` for each txid
// in one batch (verbosity as an integer: btcd's parameter is an int, Core
// takes either). errs[i] is call i's error (an *RPCError with CodeNotFound
// for a transaction no longer in the mempool, without a transaction index),
// or a *ParseError when the reply names another txid. err fails the whole
// batch; at most MaxBatch txids.
func (c *Client) GetRawTransactionsVerbose(ctx context.Context, txids []chainhash.Hash) (txs []RawTx, errs []error, err error) {
	const method = "getrawtransaction"
	type rawJSON struct {
		Hex  string `json:"hex"`
		TxID string `json:"txid"`
		Hash string `json:"hash"`
	}
	params := make([][]any, len(txids))
	js := make([]rawJSON, len(txids))
	results := make([]any, len(txids))
	for i := range txids {
		params[i] = []any{txids[i].String(), 1}
		results[i] = &js[i]
	}
	errs, err = c.CallBatch(ctx, method, params, results)
	if err != nil {
		return nil, nil, err
	}
	txs = make([]RawTx, len(txids))
	for i := range txids {
		if errs[i] != nil {
			continue
		}
		txs[i], errs[i] = parseRawTx(method, txids[i], js[i].Hex, js[i].TxID, js[i].Hash)
	}
	return txs, errs, nil
}

func parseRawTx(method string, want chainhash.Hash, hexData, txid, hash string) (RawTx, error) {
	var r RawTx
	var err error
	if r.TxID, err = ParseHash(txid); err != nil {
		return RawTx{}, &ParseError{Method: method, Field: "txid", Err: err}
	}
	if r.TxID != want {
		return RawTx{}, &ParseError{Method: method, Field: "txid", Err: fmt.Errorf("asked for %s, got %s", want, r.TxID)}
	}
	if r.WTxID, err = ParseHash(hash); err != nil {
		return RawTx{}, &ParseError{Method: method, Field: "hash", Err: err}
	}
	if r.Data, err = hex.DecodeString(hexData); err != nil || len(r.Data) == 0 {
		if err == nil {
			err = fmt.Errorf("empty transaction")
		}
		return RawTx{}, &ParseError{Method: method, Field: "hex", Err: err}
	}
	return r, nil
}

// ProposeBlock asks the node to check a whole block without accepting it
// (BIP23: getblocktemplate {"mode":"proposal","data":hex}). It returns ""
// when the node answered null (valid) and the node's reason otherwise; the
// proof of work is not checked. btcd answers "bad-prevblk" when the block
// does not build on its tip, then runs CheckConnectBlockTemplate (merkle
// root and witness commitment included); Bitcoin Core answers
// "inconclusive-not-best-prevblk" there, and "duplicate" for a block it
// has. An undecodable block is an *RPCError (btcd: code -22 "Block decode
// failed: ...").
func (c *Client) ProposeBlock(ctx context.Context, block []byte) (string, error) {
	const method = "getblocktemplate"
	req := map[string]any{"mode": "proposal", "data": hex.EncodeToString(block)}
	var raw json.RawMessage
	if err := c.call(ctx, c.http, method, []any{req}, &raw); err != nil {
		return "", err
	}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var reason string
	if err := json.Unmarshal(raw, &reason); err != nil {
		return "", &ParseError{Method: method, Field: "proposal", Err: err}
	}
	if reason == "" {
		// A node that rejects without a reason must not read as valid.
		reason = "rejected"
	}
	return reason, nil
}
