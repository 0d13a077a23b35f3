package template_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeNode is a minimal btcd look-alike: a chain of hashes, a GBT with
// longpoll, and submitblock whose outcome the test chooses.
type fakeNode struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	chain   []chainhash.Hash // chain[i] is the block at height i
	changed chan struct{}    // closed when the tip changes
	gbt     int              // getblocktemplate calls
	// submit decides the submitblock reply: "" adds the block to the tip
	// and answers null; "sidechain" answers null without adding it;
	// "http500" fails at the HTTP level; anything else is the reason.
	submit string
}

func newFakeNode(t *testing.T, height int) *fakeNode {
	f := &fakeNode{t: t, changed: make(chan struct{})}
	for i := 0; i <= height; i++ {
		f.chain = append(f.chain, chainhash.Hash{byte(i), 0xfe})
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) client(t *testing.T, name string) *node.Client {
	c, err := node.New(node.Config{Name: name, URL: f.srv.URL, User: "u", Password: "p", Timeout: 5 * time.Second},
		nil, node.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// fakeBlockTime is the header timestamp of the fake chain's block at height.
func fakeBlockTime(height int) int64 { return 1700000000 + 600*int64(height) }

// mine appends a block to the tip.
func (f *fakeNode) mine() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chain = append(f.chain, chainhash.Hash{byte(len(f.chain)), 0xfe, 0x01})
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeNode) tip() (chainhash.Hash, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.chain[len(f.chain)-1], len(f.chain) - 1
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     uint64            `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		return
	}
	reply := func(result any) {
		b, _ := json.Marshal(map[string]any{"result": result, "error": nil, "id": req.ID})
		w.Write(b)
	}
	rpcErr := func(code int, msg string) {
		b, _ := json.Marshal(map[string]any{"result": nil, "error": map[string]any{"code": code, "message": msg}, "id": req.ID})
		w.Write(b)
	}
	switch req.Method {
	case "getblocktemplate":
		var p struct {
			LongPollID string `json:"longpollid"`
		}
		_ = json.Unmarshal(req.Params[0], &p)
		f.mu.Lock()
		f.gbt++
		tip, height, changed := f.chain[len(f.chain)-1], len(f.chain)-1, f.changed
		f.mu.Unlock()
		if p.LongPollID != "" && p.LongPollID == tip.String() {
			select {
			case <-changed:
			case <-r.Context().Done():
				return
			}
			tip, height = f.tip()
		}
		reply(map[string]any{
			"version": 0x20000000, "previousblockhash": tip.String(), "transactions": []any{},
			"coinbasevalue": 5000000000, "bits": "207fffff", "height": height + 1,
			"curtime": 1700000000 + height, "mintime": 1690000000, "longpollid": tip.String(),
		})
	case "getbestblockhash":
		tip, _ := f.tip()
		reply(tip.String())
	case "getblockhash":
		var h int
		_ = json.Unmarshal(req.Params[0], &h)
		f.mu.Lock()
		defer f.mu.Unlock()
		if h < 0 || h >= len(f.chain) {
			rpcErr(-8, "out of range")
			return
		}
		reply(f.chain[h].String())
	case "getblockheader":
		var s string
		_ = json.Unmarshal(req.Params[0], &s)
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, h := range f.chain {
			if h.String() == s {
				reply(map[string]any{"hash": s, "height": i, "confirmations": len(f.chain) - i, "time": fakeBlockTime(i)})
				return
			}
		}
		rpcErr(-5, "Block not found")
	case "submitblock":
		var s string
		_ = json.Unmarshal(req.Params[0], &s)
		raw, _ := hex.DecodeString(s)
		f.mu.Lock()
		mode := f.submit
		f.mu.Unlock()
		switch mode {
		case "":
			f.mu.Lock()
			f.chain = append(f.chain, share.DoubleSHA256(raw[:80]))
			close(f.changed)
			f.changed = make(chan struct{})
			f.mu.Unlock()
			reply(nil)
		case "sidechain":
			reply(nil)
		case "http500":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			reply(mode)
		}
	default:
		rpcErr(-32601, fmt.Sprintf("Method not found: %s", req.Method))
	}
}
