//go:build integration

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/internal/pgtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestAccount is a regtest P2WPKH key derived from a fixed string (test
// coins only).
type TestAccount struct {
	Priv    *btcec.PrivateKey
	Address string
	Script  []byte
}

// NewTestAccount derives the account named name.
func NewTestAccount(name string) TestAccount {
	seed := sha256.Sum256([]byte("adit e2e payout account " + name))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	addr, err := btcutil.NewAddressWitnessPubKeyHash(
		btcutil.Hash160(priv.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		panic(err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		panic(err)
	}
	return TestAccount{Priv: priv, Address: addr.EncodeAddress(), Script: script}
}

// PayoutEnv is what a daemon with payouts enabled needs besides a node: a
// Postgres server, the pool key in a 0600 file and a share log directory
// that survives daemon restarts within the test.
type PayoutEnv struct {
	PG          *pgtest.Server
	DSN         string
	DB          *pgxpool.Pool
	Pool        TestAccount // the pool key: payout_address and key_file
	KeyFile     string
	ShareLogDir string
}

// NewPayoutEnv starts Postgres and writes the pool key file.
func NewPayoutEnv(t testing.TB) *PayoutEnv {
	t.Helper()
	e := &PayoutEnv{PG: pgtest.Start(t), Pool: NewTestAccount("pool")}
	e.DSN = e.PG.DSN()
	dir := t.TempDir()
	e.KeyFile = filepath.Join(dir, "pool.key")
	if err := os.WriteFile(e.KeyFile, []byte(hex.EncodeToString(e.Pool.Priv.Serialize())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(e.KeyFile, 0o600); err != nil { // umask cannot widen, but be explicit
		t.Fatal(err)
	}
	e.ShareLogDir = filepath.Join(dir, "sharelog")
	db, err := pgxpool.New(context.Background(), e.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	e.DB = db
	return e
}

// PayoutSettings are the knobs the payout tests turn.
type PayoutSettings struct {
	ShareDifficulty float64 // vardiff start = min = max
	BlockFloor      float64 // [regtest] block_floor_difficulty
	PPLNSFactor     float64
	FeeBasisPoints  int64
	FeeAccount      string
	Threshold       int64
	Interval        string // payout interval
	PollInterval    string
}

// Options returns DaemonOptions for a daemon with payouts enabled.
func (e *PayoutEnv) Options(s PayoutSettings) DaemonOptions {
	extra := fmt.Sprintf(`
[vardiff]
start = %g
min = %g
max = %g
target_interval = "1s"

[regtest]
block_floor_difficulty = %g

[sharelog]
dir = %q
fsync = "none"

[database]
migrate = true

[payout]
enabled = true
key_file = %q
fee_basis_points = %d
fee_account = %q
pplns_factor = %g
maturity = 101
threshold_sats = %d
fee_rate = 2
fee_policy = "pool"
interval = %q
poll_interval = %q
`, s.ShareDifficulty, s.ShareDifficulty, s.ShareDifficulty, s.BlockFloor, e.ShareLogDir, e.KeyFile,
		s.FeeBasisPoints, s.FeeAccount, s.PPLNSFactor, s.Threshold, s.Interval, s.PollInterval)
	return DaemonOptions{
		PayoutAddress: e.Pool.Address,
		Extra:         extra,
		Env:           []string{"ADIT_DATABASE_DSN=" + e.DSN},
	}
}

// Count runs a query returning one integer (0 on NULL).
func (e *PayoutEnv) Count(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	var n *int64
	if err := e.DB.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n == nil {
		return 0
	}
	return *n
}

// RPCProxy forwards JSON-RPC (and btcd's websocket) to a node. When armed,
// the first request calling method runs the trigger (which typically
// SIGKILLs the daemon) and is then dropped without reaching the node.
type RPCProxy struct {
	URL string

	mu      sync.Mutex
	method  string
	trigger func()
	after   bool // forward the armed call, then run trigger
	fired   bool
	down    bool
	rp      *httputil.ReverseProxy
}

// NewRPCProxy starts a proxy in front of target (http://host:port).
func NewRPCProxy(t testing.TB, target string) *RPCProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &RPCProxy{rp: httputil.NewSingleHostReverseProxy(u)}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Arm makes the next call of method run trigger and drop the request.
func (p *RPCProxy) Arm(method string, trigger func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.method, p.trigger, p.fired, p.after = method, trigger, false, false
}

// ArmAfter makes the next call of method reach the node, then run trigger
// once the node's answer has been sent back.
func (p *RPCProxy) ArmAfter(method string, trigger func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.method, p.trigger, p.fired, p.after = method, trigger, false, true
}

// SetDown makes the node unreachable through the proxy (every request's
// connection is reset) or reachable again.
func (p *RPCProxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// Disarm forwards everything again.
func (p *RPCProxy) Disarm() { p.Arm("", nil) }

// Fired reports whether the armed method was called.
func (p *RPCProxy) Fired() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired
}

func (p *RPCProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		panic(http.ErrAbortHandler)
	}
	if r.Method == http.MethodPost && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		p.mu.Lock()
		hit := p.method != "" && !p.fired && bytes.Contains(body, []byte(`"`+p.method+`"`))
		trigger, after := p.trigger, p.after
		if hit {
			p.fired = true
		}
		p.mu.Unlock()
		if hit && after {
			p.rp.ServeHTTP(w, r)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			if trigger != nil {
				trigger()
			}
			return
		}
		if hit {
			if trigger != nil {
				trigger()
			}
			// The caller is dead; never let the request reach the node.
			panic(http.ErrAbortHandler)
		}
	}
	p.rp.ServeHTTP(w, r)
}

// Chain helpers reading the node directly.

// BestBlock returns the block at height in the node's best chain.
func BestBlock(t testing.TB, c *node.Client, height int64) (chainhash.Hash, *wire.MsgBlock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hash, err := c.GetBlockHash(ctx, height)
	if err != nil {
		t.Fatalf("getblockhash %d: %v", height, err)
	}
	return hash, GetBlock(t, c, hash)
}

// GetBlock fetches and decodes a block.
func GetBlock(t testing.TB, c *node.Client, hash chainhash.Hash) *wire.MsgBlock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := c.GetBlock(ctx, hash)
	if err != nil {
		t.Fatalf("getblock %s: %v", hash, err)
	}
	var blk wire.MsgBlock
	if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatalf("block %s: %v", hash, err)
	}
	return &blk
}

// ReceivedOnChain sums, over the node's best chain from height 0 to its tip,
// the outputs paying each of scripts (keyed by hex script), and returns the
// txids of the transactions with such outputs.
func ReceivedOnChain(t testing.TB, c *node.Client, scripts [][]byte) (map[string]int64, map[chainhash.Hash]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tip, err := c.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, s := range scripts {
		want[hex.EncodeToString(s)] = true
	}
	sums := map[string]int64{}
	txs := map[chainhash.Hash]int64{}
	for h := int64(0); h <= tip; h++ {
		_, blk := BestBlock(t, c, h)
		for _, tx := range blk.Transactions {
			for _, o := range tx.TxOut {
				k := hex.EncodeToString(o.PkScript)
				if want[k] {
					sums[k] += o.Value
					txs[tx.TxHash()] += o.Value
				}
			}
		}
	}
	return sums, txs
}

// CoinbaseValue is the sum of a block's coinbase outputs.
func CoinbaseValue(blk *wire.MsgBlock) int64 {
	var v int64
	for _, o := range blk.Transactions[0].TxOut {
		v += o.Value
	}
	return v
}
