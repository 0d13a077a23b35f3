package mempool_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeTx is one transaction of the fake node's mempool.
type fakeTx struct {
	raw         []byte
	hex         string
	txid, wtxid chainhash.Hash
	fee         int64
}

// makeTx builds a distinct transaction from seed, with a witness when
// witness is set.
func makeTx(seed uint64, witness bool) fakeTx {
	tx := wire.NewMsgTx(2)
	var prev chainhash.Hash
	binary.LittleEndian.PutUint64(prev[:], seed)
	var wit wire.TxWitness
	if witness {
		wit = wire.TxWitness{bytes.Repeat([]byte{0x30}, 71), bytes.Repeat([]byte{0x02}, 33)}
	}
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&prev, 0), nil, wit))
	tx.AddTxOut(wire.NewTxOut(int64(seed%1000+1)*1000, append([]byte{0x00, 0x14}, bytes.Repeat([]byte{byte(seed)}, 20)...)))
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		panic(err)
	}
	return fakeTx{raw: b.Bytes(), hex: hex.EncodeToString(b.Bytes()), txid: tx.TxHash(), wtxid: tx.WitnessHash(), fee: int64(seed%5000) + 100}
}

// fakeNode is a JSON-RPC server with a mempool, speaking btcd's dialect
// (core false: no getmempoolentry, fee in the verbose getrawmempool, no
// wtxid there) or Bitcoin Core's (getmempoolentry, wtxid and fees.base).
// Batched requests are answered like single ones, in one array.
type fakeNode struct {
	core bool

	mu    sync.Mutex
	pool  map[chainhash.Hash]*fakeTx
	order []chainhash.Hash
	// badWtxid makes getrawtransaction report a wrong "hash" for a txid.
	badWtxid map[chainhash.Hash]bool
	// vanish makes getrawtransaction and getmempoolentry answer "not
	// found" for a txid still listed (it left between listing and fetch).
	vanish map[chainhash.Hash]bool
	calls  map[string]int // per method, batch entries counted one by one
}

func newFakeNode(core bool) *fakeNode {
	return &fakeNode{core: core, pool: make(map[chainhash.Hash]*fakeTx), badWtxid: make(map[chainhash.Hash]bool),
		vanish: make(map[chainhash.Hash]bool), calls: make(map[string]int)}
}

func (f *fakeNode) add(txs ...fakeTx) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range txs {
		t := txs[i]
		if _, ok := f.pool[t.txid]; !ok {
			f.order = append(f.order, t.txid)
		}
		f.pool[t.txid] = &t
	}
}

func (f *fakeNode) remove(txids ...chainhash.Hash) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range txids {
		delete(f.pool, h)
	}
	kept := f.order[:0]
	for _, h := range f.order {
		if _, ok := f.pool[h]; ok {
			kept = append(kept, h)
		}
	}
	f.order = kept
}

func (f *fakeNode) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeNode) resetCounts() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = make(map[string]int)
}

type fakeReq struct {
	JSONRPC string            `json:"jsonrpc"`
	ID      *uint64           `json:"id"`
	Method  string            `json:"method"`
	Params  []json.RawMessage `json:"params"`
}

func btc(sats int64) string { return fmt.Sprintf("%d.%08d", sats/1e8, sats%1e8) }

// answer writes the reply object for one request to w; f.mu is held.
func (f *fakeNode) answer(w *bytes.Buffer, r *fakeReq) {
	f.calls[r.Method]++
	id := strconv.FormatUint(*r.ID, 10)
	fail := func(code int, msg string) {
		fmt.Fprintf(w, `{"result":null,"error":{"code":%d,"message":%q},"id":%s}`, code, msg, id)
	}
	txidParam := func() (*fakeTx, bool) {
		var s string
		if len(r.Params) == 0 || json.Unmarshal(r.Params[0], &s) != nil {
			return nil, false
		}
		h, err := chainhash.NewHashFromStr(s)
		if err != nil {
			return nil, false
		}
		t, ok := f.pool[*h]
		return t, ok && !f.vanish[*h]
	}
	switch r.Method {
	case "getrawmempool":
		verbose := len(r.Params) > 0 && string(r.Params[0]) == "true"
		w.WriteString(`{"result":`)
		if verbose {
			w.WriteByte('{')
		} else {
			w.WriteByte('[')
		}
		for i, h := range f.order {
			if i > 0 {
				w.WriteByte(',')
			}
			t := f.pool[h]
			switch {
			case !verbose:
				fmt.Fprintf(w, `"%s"`, h)
			case f.core:
				fmt.Fprintf(w, `"%s":{"vsize":%d,"weight":%d,"time":1,"height":100,"wtxid":"%s","fees":{"base":%s,"modified":%s,"ancestor":%s,"descendant":%s},"depends":[],"spentby":[],"bip125-replaceable":true,"unbroadcast":false}`,
					h, len(t.raw), 4*len(t.raw), t.wtxid, btc(t.fee), btc(t.fee), btc(t.fee), btc(t.fee))
			default:
				fmt.Fprintf(w, `"%s":{"size":%d,"vsize":%d,"weight":%d,"fee":%s,"time":1,"height":100,"startingpriority":0,"currentpriority":0,"depends":[]}`,
					h, len(t.raw), len(t.raw), 4*len(t.raw), strconv.FormatFloat(float64(t.fee)/1e8, 'g', -1, 64))
			}
		}
		if verbose {
			w.WriteByte('}')
		} else {
			w.WriteByte(']')
		}
		fmt.Fprintf(w, `,"error":null,"id":%s}`, id)
	case "getmempoolentry":
		if !f.core {
			fail(-1, "Command unimplemented")
			return
		}
		t, ok := txidParam()
		if !ok {
			fail(-5, "Transaction not in mempool")
			return
		}
		fmt.Fprintf(w, `{"result":{"vsize":%d,"wtxid":"%s","fees":{"base":%s,"modified":%s}},"error":null,"id":%s}`,
			len(t.raw), t.wtxid, btc(t.fee), btc(t.fee), id)
	case "getrawtransaction":
		t, ok := txidParam()
		if !ok {
			fail(-5, "No information available about transaction")
			return
		}
		wtxid := t.wtxid
		if f.badWtxid[t.txid] {
			wtxid[0] ^= 1
		}
		fmt.Fprintf(w, `{"result":{"hex":"%s","txid":"%s","hash":"%s","size":%d,"version":2,"locktime":0,"vin":[],"vout":[]},"error":null,"id":%s}`,
			t.hex, t.txid, wtxid, len(t.raw), id)
	default:
		fail(-32601, "Method not found")
	}
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var out bytes.Buffer
	f.mu.Lock()
	defer f.mu.Unlock()
	if bytes.HasPrefix(body, []byte("[")) {
		var reqs []fakeReq
		if json.Unmarshal(body, &reqs) != nil {
			return
		}
		out.WriteByte('[')
		for i := range reqs {
			if i > 0 {
				out.WriteByte(',')
			}
			f.answer(&out, &reqs[i])
		}
		out.WriteByte(']')
	} else {
		var req fakeReq
		if json.Unmarshal(body, &req) != nil || req.ID == nil || req.JSONRPC == "" {
			return // btcd: an empty body
		}
		f.answer(&out, &req)
	}
	w.Write(out.Bytes())
}

// client starts an HTTP server for f and returns a node client for it.
func (f *fakeNode) client(tb testing.TB) *node.Client {
	tb.Helper()
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	c, err := node.New(node.Config{Name: "fake", URL: srv.URL, User: "u", Password: "p", Timeout: 10 * time.Second},
		nil, node.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

func dialect(core bool) string {
	if core {
		return "core"
	}
	return "btcd"
}
