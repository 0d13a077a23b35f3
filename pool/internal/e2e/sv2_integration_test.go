//go:build integration

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5"

	"github.com/adit-pool/adit/pool/internal/pgtest"
	"github.com/adit-pool/adit/sv2"
	sv2client "github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

// TestSV2AndSV1FindBlocks runs the real aditd (share log shipped to a real
// Postgres, a real btcd regtest node, Stratum V2 on a Noise listener with an
// authority key made by aditctl sv2-keygen) with three adit-miner fleets
// side by side: Stratum V1, Stratum V2 on standard channels and Stratum V2
// on extended channels. Each protocol finds blocks btcd accepts into its
// best chain, paying payout_address; every accepted share is in Postgres
// with its protocol and the per-worker counts equal the miners' own; a
// client pinning another authority key refuses the pool; garbage, a
// truncated handshake and an oversized frame are counted and dropped while
// the honest miners keep being accepted.
func TestSV2AndSV1FindBlocks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg := pgtest.Start(t)
	_, rpcClient, rpc := startNode(t)

	keyFile, authority := SV2Key(t, bins)

	// Shares at 1e-5 (about 43k hashes); one in 20 is a block (floor 2e-4),
	// so each fleet finds a block every few seconds without btcd's block
	// processing dominating the run.
	sv2Addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	// A wide extranonce area: SV2 extended channels roll 16 bytes while the
	// V1 miners beside them still roll 8 (extranonce1 padded with zeros).
	d := StartDaemon(t, bins, rpc, DaemonOptions{
		PayoutAddress: poolAddress,
		TopLevel:      "extranonce_size = 16\n",
		Extra: fmt.Sprintf(`[vardiff]
start = 1e-5
min = 1e-5
max = 1e-5

[sharelog]
dir = %q

[database]
migrate = true

[regtest]
block_floor_difficulty = 2e-4

[sv2]
listen = %q
authority_key_file = %q
`, t.TempDir(), sv2Addr, keyFile),
		Env: []string{"ADIT_DATABASE_DSN=" + pg.DSN()},
	})
	Eventually(t, 10*time.Second, "the SV2 listener accepts", func() bool {
		c, err := net.DialTimeout("tcp", sv2Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	startHeight, err := rpcClient.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}

	common := []string{"-fleet", "2", "-threads", "1", "-share-rate", "5", "-duration", "100s",
		"-reconnect", "200ms", "-timeout", "10s", "-json", "-log-level", "warn"}
	type group struct {
		name, worker string
		protocol     int
		args         []string
		p            *Process
		sum          sv2Summary
	}
	groups := []*group{
		{name: "v1", worker: minerAddress1 + ".v1", protocol: 1, args: []string{"-pool", d.StratumAddr}},
		{name: "v2-standard", worker: minerAddress1 + ".v2std", protocol: 2,
			args: []string{"-sv2", "-pool", sv2Addr, "-authority-key", authority, "-channel", "standard"}},
		{name: "v2-extended", worker: minerAddress2 + ".v2ext", protocol: 2,
			args: []string{"-sv2", "-pool", sv2Addr, "-authority-key", authority, "-channel", "extended"}},
	}
	for _, g := range groups {
		g.p = Start(t, "adit-miner-"+g.name, bins.Miner, nil, append(append([]string{"-user", g.worker}, g.args...), common...)...)
	}
	const v1Accepted = `adit_shares_total{protocol="v1",result="accepted"}`
	const v2Accepted = `adit_shares_total{protocol="v2",result="accepted"}`
	Eventually(t, 30*time.Second, "all six miners connected and accepted", func() bool {
		m, err := d.Metrics()
		return err == nil && m[`adit_connections{protocol="v1"}`] == 2 && m[`adit_connections{protocol="v2"}`] == 4 &&
			m[v1Accepted] > 10 && m[v2Accepted] > 10
	})

	// A client pinning another authority key refuses the pool.
	other, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub := other.PublicKey()
	if c, err := sv2client.Dial(ctx, sv2Addr, sv2client.Config{Authority: &otherPub, Timeout: 5 * time.Second}); !errors.Is(err, noise.ErrCertificateSignature) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial pinning another authority: %v", err)
	}
	var he *noise.HandshakeError
	_, err = sv2client.Dial(ctx, sv2Addr, sv2client.Config{Authority: &otherPub, Timeout: 5 * time.Second})
	if !errors.As(err, &he) {
		t.Fatalf("wrong authority: %T %v is not a handshake error", err, err)
	}

	// Hostile inputs, each counted and dropped.
	before, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	counted := func(series string) func() bool {
		return func() bool { return d.Metric(series) >= before[series]+1 }
	}
	raw := func() net.Conn {
		c, err := net.DialTimeout("tcp", sv2Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Truncated handshake: 10 bytes of the 64-byte Act 1, then close.
	c := raw()
	c.Write(make([]byte, 10))
	c.Close()
	Eventually(t, 10*time.Second, "truncated handshake counted", counted(`adit_sv2_handshakes_total{result="truncated"}`))
	// Garbage: any 64 bytes pass as an ElligatorSwift key; the rest fails
	// to decrypt as a frame.
	c = raw()
	garbage := make([]byte, 64+200)
	rand.Read(garbage)
	c.Write(garbage)
	Eventually(t, 10*time.Second, "garbage counted", counted(`adit_sv2_protocol_errors_total{reason="decrypt"}`))
	c.Close()
	// Oversized frame after an honest handshake.
	c = raw()
	in := noise.Initiator{Authority: func() *keys.PublicKey { k, _ := keys.ParsePublicKey(authority); return &k }(), Timeout: 5 * time.Second}
	nc, err := in.Handshake(ctx, c)
	if err != nil {
		t.Fatalf("honest handshake: %v", err)
	}
	go nc.WriteFrame(codec.Header{MsgType: codec.TypeSetupConnection}, make([]byte, sv2.DefaultMaxFrameLength+1))
	Eventually(t, 10*time.Second, "oversized frame counted", counted(`adit_sv2_protocol_errors_total{reason="frame_too_large"}`))
	c.Close()

	// The honest miners keep being accepted, on both protocols, without
	// losing their connections.
	mid, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, 20*time.Second, "honest miners still accepted after the hostile inputs", func() bool {
		m, err := d.Metrics()
		return err == nil && m[v1Accepted] >= mid[v1Accepted]+10 && m[v2Accepted] >= mid[v2Accepted]+20 &&
			m[`adit_connections{protocol="v2"}`] == 4
	})

	// Every group finds blocks: block shares shipped to Postgres.
	Eventually(t, 60*time.Second, "each fleet found a block", func() bool {
		b, err := blockShares(ctx, pg.DSN())
		if err != nil {
			return false
		}
		for _, g := range groups {
			if b.byPrefix(g.worker) == 0 {
				return false
			}
		}
		return true
	})
	for _, g := range groups {
		if err := g.p.Signal(syscall.SIGINT, 30*time.Second); err != nil {
			t.Fatalf("%s fleet exit: %v", g.name, err)
		}
		g.sum = parseSV2Summary(t, g.p.Output())
	}
	waitShipped(t, d, 30*time.Second)

	// Postgres holds every accepted share with its protocol.
	byWorker, err := sharesByWorkerProtocol(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	protocols := map[int]bool{}
	for _, g := range groups {
		s := g.sum
		if s.Accepted == 0 || s.Disconnects != 0 || s.DialFailures != 0 || s.IOErrors != 0 {
			t.Errorf("%s summary: %+v", g.name, s)
		}
		for code, n := range s.Rejected {
			// A share in flight when a block changes the job is stale.
			if code != "21" && code != "stale-share" {
				t.Errorf("%s: %d shares rejected with %s (%s)", g.name, n, code, s.RejectMessages[code])
			}
		}
		want := map[int]string{1: "v1", 2: "v2"}[g.protocol]
		if ps := s.ByProtocol[want]; ps.Accepted != s.Accepted {
			t.Errorf("%s: by_protocol %+v, accepted %d", g.name, s.ByProtocol, s.Accepted)
		}
		for w, n := range s.AcceptedByWorker {
			got := byWorker[w]
			if got[g.protocol] != n || len(got) != 1 {
				t.Errorf("worker %s: miner counted %d accepted, Postgres holds %v (protocol → shares)", w, n, got)
			}
			protocols[g.protocol] = true
		}
		if len(s.AcceptedByWorker) != 2 {
			t.Errorf("%s: workers %v", g.name, s.AcceptedByWorker)
		}
		t.Logf("%s: accepted %d, rejected %v, %.1f/s, p50 %.2f ms p99 %.2f ms", g.name, s.Accepted, s.Rejected,
			s.SharesPerSecond, s.LatencyP50Ms, s.LatencyP99Ms)
	}
	if !protocols[1] || !protocols[2] {
		t.Errorf("protocols in Postgres: %v", protocols)
	}

	// Each fleet's blocks are in btcd's best chain and pay payout_address.
	b, err := blockShares(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	payout, _ := btcutil.DecodeAddress(poolAddress, &chaincfg.RegressionNetParams)
	wantScript, _ := txscript.PayToAddrScript(payout)
	best, err := rpcClient.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inChain := map[string]int{} // worker → blocks in the best chain
	for h := startHeight + 1; h <= best; h++ {
		hash, err := rpcClient.GetBlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := rpcClient.GetBlock(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		var blk wire.MsgBlock
		if err := blk.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatalf("block %d: %v", h, err)
		}
		cb := blk.Transactions[0]
		if !bytes.Contains(cb.TxIn[0].SignatureScript, []byte("/adit-e2e/")) {
			continue
		}
		if !bytes.Equal(cb.TxOut[0].PkScript, wantScript) {
			t.Errorf("block %d coinbase pays %x, want %x", h, cb.TxOut[0].PkScript, wantScript)
		}
		bh := blk.BlockHash()
		if s, ok := b[string(bh[:])]; ok {
			inChain[s.worker]++
			if want := map[bool]int{true: 1, false: 2}[strings.Contains(s.worker, ".v1")]; s.protocol != want {
				t.Errorf("block %d by %s recorded with protocol %d", h, s.worker, s.protocol)
			}
		} else {
			t.Errorf("block %d (%s) in the best chain is not a block share in Postgres", h, bh)
		}
	}
	for _, g := range groups {
		n := 0
		for w, k := range inChain {
			if strings.HasPrefix(w, g.worker) {
				n += k
			}
		}
		if n == 0 {
			t.Errorf("%s: no block in btcd's best chain (chain blocks by worker %v)", g.name, inChain)
		}
		t.Logf("%s: %d blocks in the best chain", g.name, n)
	}
	t.Logf("blocks: found %v, accepted by btcd %v; best height %d", d.Metric("adit_blocks_found_total"),
		d.Metric(`adit_blocks_submitted_total{result="accepted"}`), best)
}

// sv2Summary is the part of adit-miner's -json summary this test reads.
type sv2Summary struct {
	FleetSummary
	ByProtocol map[string]struct {
		Accepted        uint64  `json:"accepted"`
		Rejected        uint64  `json:"rejected"`
		SharesPerSecond float64 `json:"accepted_per_second"`
		LatencyP50Ms    float64 `json:"latency_p50_ms"`
		LatencyP99Ms    float64 `json:"latency_p99_ms"`
	} `json:"by_protocol"`
}

func parseSV2Summary(t *testing.T, out string) sv2Summary {
	t.Helper()
	fs, err := ParseFleetSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	s := sv2Summary{FleetSummary: fs}
	i := strings.LastIndex(out, "\n{")
	if err := json.NewDecoder(strings.NewReader(out[i+1:])).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// blockShare is a block-candidate share in Postgres.
type blockShare struct {
	worker   string
	protocol int
}

type blockSet map[string]blockShare // by header hash (internal byte order)

func (b blockSet) byPrefix(worker string) int {
	n := 0
	for _, s := range b {
		if strings.HasPrefix(s.worker, worker) {
			n++
		}
	}
	return n
}

func blockShares(ctx context.Context, dsn string) (blockSet, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT hash, address || '.' || worker, protocol FROM shares WHERE is_block`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	b := blockSet{}
	for rows.Next() {
		var (
			h []byte
			s blockShare
		)
		if err := rows.Scan(&h, &s.worker, &s.protocol); err != nil {
			return nil, err
		}
		b[string(h)] = s
	}
	return b, rows.Err()
}

// sharesByWorkerProtocol counts shares per worker (address.worker) and
// protocol.
func sharesByWorkerProtocol(ctx context.Context, dsn string) (map[string]map[int]uint64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT address || '.' || worker, protocol, count(*) FROM shares GROUP BY 1, 2`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[int]uint64{}
	for rows.Next() {
		var (
			w string
			p int
			n int64
		)
		if err := rows.Scan(&w, &p, &n); err != nil {
			return nil, err
		}
		if out[w] == nil {
			out[w] = map[int]uint64{}
		}
		out[w][p] = uint64(n)
	}
	return out, rows.Err()
}
