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
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type rpcReq struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      *json.RawMessage  `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

// handler answers method with a fixed raw reply body and status.
type fakeReply struct {
	status int
	body   string
}

func newServer(t *testing.T, replies map[string]fakeReply, seen func(rpcReq)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "u" || pass != "p" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req rpcReq
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil || req.JSONRPC != "1.0" || req.ID == nil || string(*req.ID) == "null" {
			return // btcd's behaviour: an empty body
		}
		if _, err := (json.Number(string(*req.ID))).Int64(); err != nil {
			t.Errorf("id %s is not numeric", *req.ID)
		}
		if seen != nil {
			seen(req)
		}
		rep, ok := replies[req.Method]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":`+string(*req.ID)+`}`)
			return
		}
		if rep.status != 0 {
			w.WriteHeader(rep.status)
		}
		io.WriteString(w, strings.ReplaceAll(rep.body, "$ID", string(*req.ID)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, url string, ws bool) *node.Client {
	t.Helper()
	c, err := node.New(node.Config{Name: "fake", URL: url, User: "u", Password: "p", Timeout: 5 * time.Second, WebsocketNotify: ws}, nil, node.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func ok(result string) fakeReply {
	return fakeReply{body: `{"result":` + result + `,"error":null,"id":$ID}`}
}

func txHex(t *testing.T, witness bool) (string, *wire.MsgTx) {
	t.Helper()
	tx := wire.NewMsgTx(2)
	var wit wire.TxWitness
	if witness {
		wit = wire.TxWitness{{1, 2, 3}}
	}
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{9}, Index: 3}, nil, wit))
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b.Bytes()), tx
}

const prevHex = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"

func gbtJSON(t *testing.T, commitment string, witness bool, mutate func(m map[string]any)) string {
	t.Helper()
	data, tx := txHex(t, witness)
	m := map[string]any{
		"version":           536870912,
		"previousblockhash": prevHex,
		"transactions": []map[string]any{{
			"data": data, "txid": tx.TxHash().String(), "hash": tx.WitnessHash().String(), "fee": 250,
		}},
		"coinbasevalue": 5000000250,
		"bits":          "207fffff",
		"target":        "7fffff0000000000000000000000000000000000000000000000000000000000",
		"height":        12,
		"curtime":       1700000000,
		"mintime":       1699990000,
		"longpollid":    prevHex + "-1700000000",
	}
	if commitment != "" {
		m["default_witness_commitment"] = commitment
	}
	if mutate != nil {
		mutate(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestGetBlockTemplate(t *testing.T) {
	hash32 := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, commitment string
		witness          bool
		want             string
	}{
		{"btcd bare hash", hash32, true, "6a24aa21a9ed" + hash32},
		{"core full script", "6a24aa21a9ed" + hash32, true, "6a24aa21a9ed" + hash32},
		{"btcd without witness txs", "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got rpcReq
			srv := newServer(t, map[string]fakeReply{"getblocktemplate": ok(gbtJSON(t, tc.commitment, tc.witness, nil))},
				func(r rpcReq) { got = r })
			c := newClient(t, srv.URL, true)
			tpl, err := c.GetBlockTemplate(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Params) != 1 {
				t.Fatalf("params %v", got.Params)
			}
			var p struct {
				Rules        []string `json:"rules"`
				Capabilities []string `json:"capabilities"`
				LongPollID   *string  `json:"longpollid"`
			}
			if err := json.Unmarshal(got.Params[0], &p); err != nil {
				t.Fatal(err)
			}
			if strings.Join(p.Rules, ",") != "segwit" || !strings.Contains(strings.Join(p.Capabilities, ","), "coinbasevalue") || p.LongPollID != nil {
				t.Fatalf("request %s", got.Params[0])
			}
			if hex.EncodeToString(tpl.WitnessCommitment) != tc.want {
				t.Fatalf("commitment %x, want %s", tpl.WitnessCommitment, tc.want)
			}
			prev, _ := chainhash.NewHashFromStr(prevHex)
			if tpl.PrevHash != *prev || tpl.Version != 0x20000000 || tpl.Bits != 0x207fffff || tpl.Height != 12 ||
				tpl.CoinbaseValue != 5000000250 || tpl.CurTime != 1700000000 || tpl.MinTime != 1699990000 ||
				tpl.Target != share.TargetFromCompact(0x207fffff) || tpl.LongPollID == "" {
				t.Fatalf("template %+v", tpl)
			}
			_, tx := txHex(t, tc.witness)
			if len(tpl.Transactions) != 1 || tpl.Transactions[0].TxID != tx.TxHash() || tpl.Transactions[0].WTxID != tx.WitnessHash() ||
				tpl.Transactions[0].Fee != 250 || tpl.Transactions[0].HasWitness != tc.witness {
				t.Fatalf("transactions %+v", tpl.Transactions)
			}
		})
	}
}

func TestGetBlockTemplateRejectsBadReplies(t *testing.T) {
	hash32 := strings.Repeat("ab", 32)
	for name, mutate := range map[string]func(map[string]any){
		"short prevhash":   func(m map[string]any) { m["previousblockhash"] = prevHex[2:] },
		"non-hex prevhash": func(m map[string]any) { m["previousblockhash"] = "zz" + prevHex[2:] },
		"no coinbasevalue": func(m map[string]any) { delete(m, "coinbasevalue") },
		"bad bits":         func(m map[string]any) { m["bits"] = "207fff" },
		"target != bits":   func(m map[string]any) { m["target"] = strings.Repeat("00", 31) + "01" },
		"zero height":      func(m map[string]any) { m["height"] = 0 },
		"txid mismatch":    func(m map[string]any) { m["transactions"].([]map[string]any)[0]["txid"] = prevHex },
		"tx trailing bytes": func(m map[string]any) {
			m["transactions"].([]map[string]any)[0]["data"] = m["transactions"].([]map[string]any)[0]["data"].(string) + "00"
		},
		"bad commitment len":   func(m map[string]any) { m["default_witness_commitment"] = hash32 + "00" },
		"witness, no commit":   func(m map[string]any) { delete(m, "default_witness_commitment") },
		"version out of range": func(m map[string]any) { m["version"] = int64(1) << 33 },
	} {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, map[string]fakeReply{"getblocktemplate": ok(gbtJSON(t, hash32, true, mutate))}, nil)
			_, err := newClient(t, srv.URL, false).GetBlockTemplate(context.Background(), "")
			var pe *node.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ParseError", err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	srv := newServer(t, map[string]fakeReply{
		"getblockcount":    {status: 500, body: `{"result":null,"error":{"code":-28,"message":"Loading"},"id":$ID}`},
		"getbestblockhash": {status: 200, body: ``},
		"getblockhash":     {status: 200, body: `not json`},
		"validateaddress":  {status: 502, body: `<html>bad gateway</html>`},
	}, nil)
	c := newClient(t, srv.URL, false)
	ctx := context.Background()

	_, err := c.GetBlockCount(ctx)
	var re *node.RPCError
	if !errors.As(err, &re) || re.Code != -28 || re.Message != "Loading" || re.Method != "getblockcount" {
		t.Errorf("getblockcount: %v", err)
	}
	_, err = c.GetBestBlockHash(ctx)
	var ee *node.EmptyBodyError
	if !errors.As(err, &ee) {
		t.Errorf("empty body: %v", err)
	}
	_, err = c.GetBlockHash(ctx, 1)
	var pe *node.ParseError
	if !errors.As(err, &pe) {
		t.Errorf("garbage: %v", err)
	}
	_, err = c.ValidateAddress(ctx, "x")
	var he *node.HTTPError
	if !errors.As(err, &he) || he.StatusCode != 502 {
		t.Errorf("502: %v", err)
	}
	_, err = c.Generate(ctx, 1, "")
	if !errors.As(err, &re) || re.Code != node.CodeMethodNotFound {
		t.Errorf("unknown method: %v", err)
	}
	bad, _ := node.New(node.Config{Name: "x", URL: srv.URL, User: "u", Password: "wrong"}, nil, nil)
	_, err = bad.GetBlockCount(ctx)
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Errorf("401: %v", err)
	}
}

func TestCalls(t *testing.T) {
	hash := strings.Repeat("01", 32)
	var submitted atomic.Value
	srv := newServer(t, map[string]fakeReply{
		"submitblock":        ok(`null`),
		"getbestblockhash":   ok(`"` + hash + `"`),
		"getblockhash":       ok(`"` + hash + `"`),
		"getblockcount":      ok(`42`),
		"getblockheader":     ok(`{"hash":"` + hash + `","height":42,"confirmations":-1,"previousblockhash":"` + prevHex + `","time":1700000123}`),
		"generate":           ok(`["` + hash + `","` + prevHex + `"]`),
		"getblock":           ok(`"0102"`),
		"getrawtransaction":  ok(`"0304"`),
		"sendrawtransaction": ok(`"` + hash + `"`),
		"validateaddress":    ok(`{"isvalid":true,"address":"bcrt1x","scriptPubKey":"0014"}`),
	}, func(r rpcReq) {
		if r.Method == "submitblock" {
			submitted.Store(string(r.Params[0]))
		}
	})
	c := newClient(t, srv.URL, false)
	ctx := context.Background()
	h, _ := chainhash.NewHashFromStr(hash)
	if reason, err := c.SubmitBlock(ctx, []byte{0xde, 0xad}); reason != "" || err != nil || submitted.Load() != `"dead"` {
		t.Errorf("submitblock = %q, %v (sent %v)", reason, err, submitted.Load())
	}
	if got, err := c.GetBestBlockHash(ctx); got != *h || err != nil {
		t.Errorf("getbestblockhash = %v, %v", got, err)
	}
	if got, err := c.GetBlockHash(ctx, 42); got != *h || err != nil {
		t.Errorf("getblockhash = %v, %v", got, err)
	}
	if got, err := c.GetBlockCount(ctx); got != 42 || err != nil {
		t.Errorf("getblockcount = %v, %v", got, err)
	}
	prev, _ := chainhash.NewHashFromStr(prevHex)
	if got, err := c.GetBlockHeader(ctx, *h); err != nil || got.Height != 42 || got.Confirmations != -1 || got.PreviousBlockHash != *prev ||
		got.Time.Unix() != 1700000123 {
		t.Errorf("getblockheader = %+v, %v", got, err)
	}
	if _, err := c.GetBlockHeader(ctx, *prev); err == nil {
		t.Error("getblockheader accepted a reply for another hash")
	}
	if got, err := c.Generate(ctx, 2, ""); err != nil || len(got) != 2 || got[0] != *h {
		t.Errorf("generate = %v, %v", got, err)
	}
	if got, err := c.GetBlock(ctx, *h); err != nil || !bytes.Equal(got, []byte{1, 2}) {
		t.Errorf("getblock = %x, %v", got, err)
	}
	if got, err := c.GetRawTransaction(ctx, *h); err != nil || !bytes.Equal(got, []byte{3, 4}) {
		t.Errorf("getrawtransaction = %x, %v", got, err)
	}
	if got, err := c.SendRawTransaction(ctx, []byte{1}); err != nil || got != *h {
		t.Errorf("sendrawtransaction = %v, %v", got, err)
	}
	if got, err := c.ValidateAddress(ctx, "bcrt1x"); err != nil || !got.IsValid || !bytes.Equal(got.ScriptPubKey, []byte{0, 0x14}) {
		t.Errorf("validateaddress = %+v, %v", got, err)
	}

	srv2 := newServer(t, map[string]fakeReply{"submitblock": ok(`"bad-txnmrklroot"`)}, nil)
	if reason, err := newClient(t, srv2.URL, false).SubmitBlock(ctx, []byte{1}); reason != "bad-txnmrklroot" || err != nil {
		t.Errorf("rejected submitblock = %q, %v", reason, err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []node.Config{
		{URL: "http://127.0.0.1:1"},
		{Name: "a", URL: "127.0.0.1:1"},
		{Name: "a", URL: "ftp://127.0.0.1:1"},
		{Name: "a", URL: "http://user:pw@127.0.0.1:1"},
		{Name: "a", URL: "http://127.0.0.1:1", Timeout: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (node.Config{Name: "a", URL: "http://127.0.0.1:18334"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestNotifyBlocks(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1", false)
	if err := c.NotifyBlocks(context.Background(), func() {}); !errors.Is(err, node.ErrUnsupported) {
		t.Fatalf("Core: %v", err)
	}

	var conns atomic.Int32
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" || r.URL.Path != "/ws" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		// Count the connection before any notification goes out: the client
		// may see all of them (and the test end) before this handler resumes.
		n := conns.Add(1)
		var req rpcReq
		if err := ws.ReadJSON(&req); err != nil || req.Method != "notifyblocks" || req.JSONRPC != "1.0" || req.ID == nil {
			t.Errorf("subscribe request %+v, %v", req, err)
			return
		}
		ws.WriteMessage(websocket.TextMessage, []byte(`{"result":null,"error":null,"id":`+string(*req.ID)+`}`))
		ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"1.0","method":"blockconnected","params":["`+prevHex+`",1,2],"id":null}`))
		ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"1.0","method":"txaccepted","params":[],"id":null}`))
		ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"1.0","method":"filteredblockconnected","params":[1,"00",null],"id":null}`))
		if n == 1 {
			return // drop the first connection: the client must reconnect
		}
		ws.ReadMessage() // hold until the client closes
	}))
	defer srv.Close()
	c = newClient(t, srv.URL, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var calls atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- c.NotifyBlocks(ctx, func() {
			// Per connection: once on subscribe, once per block notification.
			if calls.Add(1) == 6 {
				cancel()
			}
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("NotifyBlocks = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("NotifyBlocks did not return")
	}
	if conns.Load() != 2 || calls.Load() != 6 {
		t.Fatalf("conns %d calls %d", conns.Load(), calls.Load())
	}
}

// TestMetricsErrorCounters: a method called without error is exported in
// adit_node_rpc_errors_total with 0 (so error rates read 0, not no data),
// a failing one counts its failures, batches under "method/batch".
func TestMetricsErrorCounters(t *testing.T) {
	srv := newServer(t, map[string]fakeReply{
		"getbestblockhash": ok(`"` + prevHex + `"`),
		"getblockcount":    {status: 500, body: `{"result":null,"error":{"code":-28,"message":"Loading"},"id":$ID}`},
	}, nil)
	reg := prometheus.NewRegistry()
	c, err := node.New(node.Config{Name: "fake", URL: srv.URL, User: "u", Password: "p", Timeout: 5 * time.Second}, nil, node.NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.GetBestBlockHash(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.GetBlockCount(ctx); err == nil {
			t.Fatal("getblockcount did not fail")
		}
	}
	if _, err := c.CallBatch(ctx, "getblockcount", [][]any{nil}, []any{nil}); err == nil {
		t.Fatal("batch did not fail")
	}
	want := `
# HELP adit_node_rpc_errors_total Node JSON-RPC calls that failed (transport, HTTP, RPC or parse errors).
# TYPE adit_node_rpc_errors_total counter
adit_node_rpc_errors_total{method="getbestblockhash"} 0
adit_node_rpc_errors_total{method="getblockcount"} 2
adit_node_rpc_errors_total{method="getblockcount/batch"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "adit_node_rpc_errors_total"); err != nil {
		t.Fatal(err)
	}
}
