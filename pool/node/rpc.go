package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// gbtCapabilities are the capabilities the pool announces. btcd returns
// coinbasevalue only when it is asked for explicitly.
var gbtCapabilities = []string{"coinbasetxn", "workid", "coinbase/append", "longpoll", "coinbasevalue"}

// GetBlockTemplate fetches a block template with segwit rules. With a
// non-empty longPollID the call blocks until the node's template differs
// from the one that ID names (a new tip, or new transactions), bounded only by
// ctx; without one it returns at once, bounded by the configured timeout.
func (c *Client) GetBlockTemplate(ctx context.Context, longPollID string) (*Template, error) {
	req := map[string]any{
		"mode":         "template",
		"rules":        []string{"segwit"},
		"capabilities": gbtCapabilities,
	}
	hc := c.http
	if longPollID != "" {
		req["longpollid"] = longPollID
		hc = c.longpoll
	}
	var raw json.RawMessage
	if err := c.call(ctx, hc, "getblocktemplate", []any{req}, &raw); err != nil {
		return nil, err
	}
	return ParseTemplate(raw)
}

// SubmitBlock submits a serialized block. It returns "" when the node
// answered null (which it also does for a valid block on a side chain: confirm
// with GetBestBlockHash) and the node's rejection reason otherwise.
func (c *Client) SubmitBlock(ctx context.Context, block []byte) (string, error) {
	var raw json.RawMessage
	if err := c.call(ctx, c.http, "submitblock", []any{hex.EncodeToString(block)}, &raw); err != nil {
		return "", err
	}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var reason string
	if err := json.Unmarshal(raw, &reason); err != nil {
		return "", &ParseError{Method: "submitblock", Err: err}
	}
	return reason, nil
}

func (c *Client) hashCall(ctx context.Context, method string, params []any) (chainhash.Hash, error) {
	var s string
	if err := c.call(ctx, c.http, method, params, &s); err != nil {
		return chainhash.Hash{}, err
	}
	h, err := ParseHash(s)
	if err != nil {
		return chainhash.Hash{}, &ParseError{Method: method, Err: err}
	}
	return h, nil
}

// GetBestBlockHash returns the hash of the tip of the node's best chain.
func (c *Client) GetBestBlockHash(ctx context.Context) (chainhash.Hash, error) {
	return c.hashCall(ctx, "getbestblockhash", nil)
}

// GetBlockHash returns the hash of the best-chain block at height.
func (c *Client) GetBlockHash(ctx context.Context, height int64) (chainhash.Hash, error) {
	return c.hashCall(ctx, "getblockhash", []any{height})
}

// GetBlockCount returns the height of the best chain's tip.
func (c *Client) GetBlockCount(ctx context.Context) (int64, error) {
	var n int64
	err := c.call(ctx, c.http, "getblockcount", nil, &n)
	return n, err
}

// BlockHeader is the part of a verbose getblockheader reply the pool uses.
type BlockHeader struct {
	Hash   chainhash.Hash
	Height int64
	// Confirmations is 1 for the tip, more below it; Bitcoin Core reports -1
	// for a block that is not in the best chain (btcd answers an error).
	Confirmations int64
	// PreviousBlockHash is zero for the genesis block.
	PreviousBlockHash chainhash.Hash
	// Time is the header's timestamp (whole seconds, as the miner set it).
	Time time.Time
}

// GetBlockHeader returns a block header's chain position.
func (c *Client) GetBlockHeader(ctx context.Context, hash chainhash.Hash) (*BlockHeader, error) {
	var r struct {
		Hash              string `json:"hash"`
		Height            int64  `json:"height"`
		Confirmations     int64  `json:"confirmations"`
		PreviousBlockHash string `json:"previousblockhash"`
		Time              int64  `json:"time"`
	}
	const method = "getblockheader"
	if err := c.call(ctx, c.http, method, []any{hash.String(), true}, &r); err != nil {
		return nil, err
	}
	h, err := ParseHash(r.Hash)
	if err != nil {
		return nil, &ParseError{Method: method, Field: "hash", Err: err}
	}
	if h != hash {
		return nil, &ParseError{Method: method, Field: "hash", Err: fmt.Errorf("asked for %s, got %s", hash, h)}
	}
	bh := &BlockHeader{Hash: h, Height: r.Height, Confirmations: r.Confirmations, Time: time.Unix(r.Time, 0)}
	if r.PreviousBlockHash != "" {
		if bh.PreviousBlockHash, err = ParseHash(r.PreviousBlockHash); err != nil {
			return nil, &ParseError{Method: method, Field: "previousblockhash", Err: err}
		}
	}
	return bh, nil
}

// Generate mines n blocks on a test network and returns their hashes. With an
// empty address it calls btcd's `generate` (which pays btcd's --miningaddr);
// otherwise Bitcoin Core's `generatetoaddress`, which btcd lacks.
func (c *Client) Generate(ctx context.Context, n int, address string) ([]chainhash.Hash, error) {
	method, params := "generate", []any{n}
	if address != "" {
		method, params = "generatetoaddress", []any{n, address}
	}
	var ss []string
	if err := c.call(ctx, c.http, method, params, &ss); err != nil {
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

func (c *Client) hexCall(ctx context.Context, method string, params []any) ([]byte, error) {
	var s string
	if err := c.call(ctx, c.http, method, params, &s); err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, &ParseError{Method: method, Err: err}
	}
	return b, nil
}

// GetBlock returns a block's serialization (getblock with verbosity 0).
func (c *Client) GetBlock(ctx context.Context, hash chainhash.Hash) ([]byte, error) {
	return c.hexCall(ctx, "getblock", []any{hash.String(), 0})
}

// GetBlockVerbose calls getblock with verbosity 1 or 2 and decodes the reply
// into out.
func (c *Client) GetBlockVerbose(ctx context.Context, hash chainhash.Hash, verbosity int, out any) error {
	return c.call(ctx, c.http, "getblock", []any{hash.String(), verbosity}, out)
}

// GetRawTransaction returns a transaction's serialization. Outside the
// mempool it needs the node's transaction index.
func (c *Client) GetRawTransaction(ctx context.Context, txid chainhash.Hash) ([]byte, error) {
	return c.hexCall(ctx, "getrawtransaction", []any{txid.String(), 0})
}

// SendRawTransaction broadcasts a serialized transaction and returns its txid.
func (c *Client) SendRawTransaction(ctx context.Context, tx []byte) (chainhash.Hash, error) {
	return c.hashCall(ctx, "sendrawtransaction", []any{hex.EncodeToString(tx)})
}

// AddressInfo is the part of a validateaddress reply the pool uses.
type AddressInfo struct {
	IsValid bool
	Address string
	// ScriptPubKey is the address's output script when the node reports it
	// (Bitcoin Core does, btcd does not).
	ScriptPubKey []byte
}

// ValidateAddress asks the node whether address is valid on its network.
func (c *Client) ValidateAddress(ctx context.Context, address string) (*AddressInfo, error) {
	var r struct {
		IsValid      bool   `json:"isvalid"`
		Address      string `json:"address"`
		ScriptPubKey string `json:"scriptPubKey"`
	}
	const method = "validateaddress"
	if err := c.call(ctx, c.http, method, []any{address}, &r); err != nil {
		return nil, err
	}
	info := &AddressInfo{IsValid: r.IsValid, Address: r.Address}
	if r.ScriptPubKey != "" {
		b, err := hex.DecodeString(r.ScriptPubKey)
		if err != nil {
			return nil, &ParseError{Method: method, Field: "scriptPubKey", Err: err}
		}
		info.ScriptPubKey = b
	}
	return info, nil
}
