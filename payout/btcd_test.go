package payout

import (
	"context"
	"crypto/sha256"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"
)

// startBtcd runs a throwaway btcd regtest node whose `generate` pays key's
// address, and returns a client for it. (pool/internal/regtest is out of
// reach of this package by Go's internal rule.) A missing btcd fails the
// test.
func startBtcd(t *testing.T, key *Key) *node.Client {
	t.Helper()
	bin, err := exec.LookPath("btcd")
	if err != nil {
		gopath, gerr := exec.Command("go", "env", "GOPATH").Output()
		if gerr != nil {
			t.Fatalf("btcd not found: %v", err)
		}
		bin = filepath.Join(string(trimNL(gopath)), "bin", "btcd")
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("btcd not found on PATH or in GOPATH/bin (go install github.com/btcsuite/btcd@v0.26.2): %v", err)
		}
	}
	dir := t.TempDir()
	rpc, p2p := freePort(t), freePort(t)
	conf := filepath.Join(dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--regtest", "--notls", "--configfile="+conf,
		"--datadir="+filepath.Join(dir, "data"), "--logdir="+filepath.Join(dir, "logs"),
		"--rpcuser=u", "--rpcpass=p", "--rpclisten=127.0.0.1:"+strconv.Itoa(rpc),
		"--listen=127.0.0.1:"+strconv.Itoa(p2p), "--miningaddr="+key.Address(),
		"--txindex", "--nodnsseed", "--nobanning")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c, err := node.New(node.Config{Name: "btcd", URL: "http://127.0.0.1:" + strconv.Itoa(rpc), User: "u", Password: "p",
		Timeout: 30 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.GetBlockCount(ctx)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("btcd did not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testKey is a fixed regtest pool key (test coins only).
func testKey(t testing.TB) *Key {
	seed := sha256.Sum256([]byte("adit payout test pool key"))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	k, err := NewKey(priv, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// minerAddr returns a deterministic regtest P2WPKH address.
func minerAddr(t testing.TB, name string) string {
	seed := sha256.Sum256([]byte("adit payout test miner " + name))
	priv, _ := btcec.PrivKeyFromBytes(seed[:])
	k, err := NewKey(priv, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	return k.Address()
}
