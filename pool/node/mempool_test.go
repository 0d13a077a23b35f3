package node_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// answer is one call's reply in a batch: a raw result or an error object.
type answer struct {
	result string // raw JSON
	code   int    // non-zero: an error object
	msg    string
	skip   bool // leave the entry out of the reply
}

// newBatchServer answers single and batched requests the way btcd does:
// requests need "jsonrpc" and a numeric id; a batch gets an array of
// replies (here in reverse order, which clients must accept).
func newBatchServer(t *testing.T, answer func(method string, params []json.RawMessage) answer, batches *atomic.Int32) *httptest.Server {
	t.Helper()
	reply := func(req rpcReq) (json.RawMessage, bool) {
		if req.JSONRPC != "1.0" || req.ID == nil || string(*req.ID) == "null" {
			return nil, false
		}
		a := answer(req.Method, req.Params)
		if a.skip {
			return nil, false
		}
		if a.code != 0 {
			b, _ := json.Marshal(map[string]any{"result": nil, "error": map[string]any{"code": a.code, "message": a.msg}, "id": req.ID})
			return b, true
		}
		return json.RawMessage(`{"result":` + a.result + `,"error":null,"id":` + string(*req.ID) + `}`), true
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if bytes.HasPrefix(body, []byte("[")) {
			if batches != nil {
				batches.Add(1)
			}
			var reqs []rpcReq
			if err := json.Unmarshal(body, &reqs); err != nil {
				t.Errorf("batch: %v", err)
				return
			}
			var out []json.RawMessage
			for i := len(reqs) - 1; i >= 0; i-- {
				if b, ok := reply(reqs[i]); ok {
					out = append(out, b)
				}
			}
			b, _ := json.Marshal(out)
			w.Write(b)
			return
		}
		var req rpcReq
		if json.Unmarshal(body, &req) != nil {
			return
		}
		if b, ok := reply(req); ok {
			w.Write(b)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func mustHash(t *testing.T, s string) chainhash.Hash {
	t.Helper()
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		t.Fatal(err)
	}
	return *h
}

func TestGetRawMempool(t *testing.T) {
	a, b := strings.Repeat("01", 32), strings.Repeat("02", 32)
	var params []json.RawMessage
	srv := newServer(t, map[string]fakeReply{"getrawmempool": ok(`["` + a + `","` + b + `"]`)}, func(r rpcReq) { params = r.Params })
	got, err := newClient(t, srv.URL, false).GetRawMempool(context.Background())
	if err != nil || len(got) != 2 || got[0] != mustHash(t, a) || got[1] != mustHash(t, b) {
		t.Fatalf("GetRawMempool = %v, %v", got, err)
	}
	if len(params) != 1 || string(params[0]) != "false" {
		t.Fatalf("params %s", params)
	}
	srv = newServer(t, map[string]fakeReply{"getrawmempool": ok(`["zz"]`)}, nil)
	var pe *node.ParseError
	if _, err := newClient(t, srv.URL, false).GetRawMempool(context.Background()); !errors.As(err, &pe) {
		t.Fatalf("bad txid: %v", err)
	}
}

func TestGetRawMempoolVerbose(t *testing.T) {
	a, b, w := strings.Repeat("01", 32), strings.Repeat("02", 32), strings.Repeat("0a", 32)
	// btcd: "fee" in BTC (Go prints 1 sat as 1e-08), no wtxid. Core v31:
	// "wtxid" and "fees":{"base":...}, no top-level "fee".
	btcd := `{"` + a + `":{"size":191,"vsize":110,"weight":440,"fee":1e-08,"time":1,"height":5,"startingpriority":0,"currentpriority":0,"depends":[]}}`
	core := `{"` + b + `":{"vsize":141,"weight":561,"time":1,"height":102,"descendantcount":1,"wtxid":"` + w +
		`","fees":{"base":0.00001410,"modified":0.00001410,"ancestor":0.00001410,"descendant":0.00001410},"depends":[],"spentby":[],"bip125-replaceable":true,"unbroadcast":true}}`
	for name, tc := range map[string]struct {
		body string
		want node.MempoolEntry
	}{
		"btcd": {btcd, node.MempoolEntry{TxID: mustHash(t, a), Fee: 1}},
		"core": {core, node.MempoolEntry{TxID: mustHash(t, b), WTxID: mustHash(t, w), Fee: 1410}},
	} {
		t.Run(name, func(t *testing.T) {
			var params []json.RawMessage
			srv := newServer(t, map[string]fakeReply{"getrawmempool": ok(tc.body)}, func(r rpcReq) { params = r.Params })
			got, err := newClient(t, srv.URL, false).GetRawMempoolVerbose(context.Background())
			if err != nil || len(got) != 1 || got[0] != tc.want {
				t.Fatalf("GetRawMempoolVerbose = %+v, %v", got, err)
			}
			if got[0].HasWTxID() != (name == "core") || string(params[0]) != "true" {
				t.Fatalf("HasWTxID %v, params %s", got[0].HasWTxID(), params)
			}
		})
	}
	srv := newServer(t, map[string]fakeReply{"getrawmempool": ok(`{"` + a + `":{"fee":-1}}`)}, nil)
	var pe *node.ParseError
	if _, err := newClient(t, srv.URL, false).GetRawMempoolVerbose(context.Background()); !errors.As(err, &pe) || pe.Field != "fee" {
		t.Fatalf("negative fee: %v", err)
	}
}

func TestGetMempoolEntries(t *testing.T) {
	a, b, w := strings.Repeat("01", 32), strings.Repeat("02", 32), strings.Repeat("0a", 32)
	var batches atomic.Int32
	srv := newBatchServer(t, func(method string, params []json.RawMessage) answer {
		if method != "getmempoolentry" || len(params) != 1 {
			t.Errorf("%s %s", method, params)
		}
		if string(params[0]) == `"`+a+`"` {
			return answer{result: `{"vsize":141,"wtxid":"` + w + `","fees":{"base":0.5}}`}
		}
		return answer{code: -5, msg: "Transaction not in mempool"}
	}, &batches)
	c := newClient(t, srv.URL, false)
	got, errs, err := c.GetMempoolEntries(context.Background(), []chainhash.Hash{mustHash(t, a), mustHash(t, b)})
	if err != nil || batches.Load() != 1 {
		t.Fatalf("err %v, %d batches", err, batches.Load())
	}
	if errs[0] != nil || got[0] != (node.MempoolEntry{TxID: mustHash(t, a), WTxID: mustHash(t, w), Fee: 50_000_000}) {
		t.Fatalf("entry 0 = %+v, %v", got[0], errs[0])
	}
	var re *node.RPCError
	if !errors.As(errs[1], &re) || re.Code != node.CodeNotFound || got[1].Fee != -1 {
		t.Fatalf("entry 1 = %+v, %v", got[1], errs[1])
	}
}

func TestGetRawTransactionsVerbose(t *testing.T) {
	data, tx := txHex(t, true)
	txid, wtxid := tx.TxHash(), tx.WitnessHash()
	other := mustHash(t, strings.Repeat("03", 32))
	gone := mustHash(t, strings.Repeat("04", 32))
	srv := newBatchServer(t, func(method string, params []json.RawMessage) answer {
		if method != "getrawtransaction" || len(params) != 2 || string(params[1]) != "1" {
			t.Errorf("%s %s", method, params)
		}
		switch string(params[0]) {
		case `"` + txid.String() + `"`:
			return answer{result: `{"hex":"` + data + `","txid":"` + txid.String() + `","hash":"` + wtxid.String() + `","size":100,"vin":[],"vout":[]}`}
		case `"` + other.String() + `"`: // a reply for the wrong transaction
			return answer{result: `{"hex":"` + data + `","txid":"` + txid.String() + `","hash":"` + wtxid.String() + `"}`}
		}
		return answer{code: -5, msg: "No information available about transaction"}
	}, nil)
	c := newClient(t, srv.URL, false)
	got, errs, err := c.GetRawTransactionsVerbose(context.Background(), []chainhash.Hash{txid, other, gone})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || got[0].TxID != txid || got[0].WTxID != wtxid || data != hex.EncodeToString(got[0].Data) {
		t.Fatalf("tx 0 = %+v, %v", got[0], errs[0])
	}
	var pe *node.ParseError
	if !errors.As(errs[1], &pe) || pe.Field != "txid" {
		t.Fatalf("tx 1: %v", errs[1])
	}
	var re *node.RPCError
	if !errors.As(errs[2], &re) || re.Code != node.CodeNotFound {
		t.Fatalf("tx 2: %v", errs[2])
	}
}

func TestCallBatchFailures(t *testing.T) {
	ctx := context.Background()
	two := [][]any{{1}, {2}}
	// A reply missing an entry (btcd drops the reply to a request without
	// an id; here the server leaves one out) fails the whole batch.
	srv := newBatchServer(t, func(_ string, params []json.RawMessage) answer {
		return answer{result: `1`, skip: string(params[0]) == "2"}
	}, nil)
	c := newClient(t, srv.URL, false)
	var x, y int
	var pe *node.ParseError
	if _, err := c.CallBatch(ctx, "m", two, []any{&x, &y}); !errors.As(err, &pe) {
		t.Fatalf("missing entry: %v", err)
	}
	if errs, err := c.CallBatch(ctx, "m", nil, nil); err != nil || errs != nil {
		t.Fatalf("empty batch: %v %v", errs, err)
	}
	if _, err := c.CallBatch(ctx, "m", two, []any{&x}); err == nil {
		t.Fatal("length mismatch accepted")
	}
	if _, err := c.CallBatch(ctx, "m", make([][]any, node.MaxBatch+1), make([]any, node.MaxBatch+1)); err == nil {
		t.Fatal("oversized batch accepted")
	}
	// A whole-request error object instead of an array; a bad status.
	srv2 := newServer(t, nil, nil)
	var he *node.HTTPError
	bad, _ := node.New(node.Config{Name: "x", URL: srv2.URL, User: "u", Password: "wrong"}, nil, nil)
	if _, err := bad.CallBatch(ctx, "m", two, []any{&x, &y}); !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("401: %v", err)
	}
	srv3 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"result":null,"error":{"code":-32600,"message":"Invalid request: empty batch"},"id":null}`)
	}))
	defer srv3.Close()
	var re *node.RPCError
	if _, err := newClient(t, srv3.URL, false).CallBatch(ctx, "m", two, []any{&x, &y}); !errors.As(err, &re) || re.Code != -32600 {
		t.Fatalf("error object: %v", err)
	}
	// A per-call result that does not decode is that call's error only.
	srv4 := newBatchServer(t, func(_ string, params []json.RawMessage) answer {
		if string(params[0]) == "2" {
			return answer{result: `"two"`}
		}
		return answer{result: `1`}
	}, nil)
	errs, err := newClient(t, srv4.URL, false).CallBatch(ctx, "m", two, []any{&x, &y})
	if err != nil || errs[0] != nil || x != 1 || !errors.As(errs[1], &pe) {
		t.Fatalf("bad result: %v %v x=%d", errs, err, x)
	}
}

func TestProposeBlock(t *testing.T) {
	ctx := context.Background()
	for reply, want := range map[string]string{`null`: "", `"bad-prevblk"`: "bad-prevblk", `""`: "rejected"} {
		var got rpcReq
		srv := newServer(t, map[string]fakeReply{"getblocktemplate": ok(reply)}, func(r rpcReq) { got = r })
		reason, err := newClient(t, srv.URL, false).ProposeBlock(ctx, []byte{0xbe, 0xef})
		if err != nil || reason != want {
			t.Fatalf("%s: ProposeBlock = %q, %v", reply, reason, err)
		}
		var p map[string]any
		if len(got.Params) != 1 || json.Unmarshal(got.Params[0], &p) != nil || p["mode"] != "proposal" || p["data"] != "beef" {
			t.Fatalf("request %s", got.Params)
		}
	}
	srv := newServer(t, map[string]fakeReply{"getblocktemplate": ok(`false`)}, nil)
	var pe *node.ParseError
	if _, err := newClient(t, srv.URL, false).ProposeBlock(ctx, []byte{1}); !errors.As(err, &pe) {
		t.Fatalf("bool reply: %v", err)
	}
	srv = newServer(t, map[string]fakeReply{"getblocktemplate": {body: `{"result":null,"error":{"code":-22,"message":"Block decode failed: EOF"},"id":$ID}`}}, nil)
	var re *node.RPCError
	if _, err := newClient(t, srv.URL, false).ProposeBlock(ctx, []byte{1}); !errors.As(err, &re) || re.Code != -22 {
		t.Fatalf("decode failure: %v", err)
	}
}
