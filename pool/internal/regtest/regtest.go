package regtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// BtcdVersion is the btcd release the harness installs when none is found.
const BtcdVersion = "v0.26.2"

// Credentials every harness node uses.
const (
	User     = "u"
	Password = "p"
)

// Options tunes Start. The zero value is a plain node.
type Options struct {
	// Binary is the btcd executable; default: btcd on PATH, then
	// $(go env GOPATH)/bin/btcd, else `go install` of BtcdVersion.
	Binary string
	// Args are appended to the command line (e.g. "--debuglevel=debug").
	Args []string
	// StartTimeout bounds the wait for RPC; default 60s.
	StartTimeout time.Duration
}

// Node is one running btcd regtest node.
type Node struct {
	// RPCURL is http://127.0.0.1:<port>; User and Password authenticate.
	RPCURL   string
	User     string
	Password string
	// P2PAddr is the node's peer listener.
	P2PAddr string
	// Dir holds the data directory, logs and config file.
	Dir string
	// MiningKey is the fixed test key; MiningAddress its P2WPKH address,
	// which btcd's `generate` pays; MiningScript the address's script.
	MiningKey     *btcec.PrivateKey
	MiningAddress btcutil.Address
	MiningScript  []byte

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	once   sync.Once
}

// TestKey returns the harness's fixed mining key and its regtest P2WPKH
// address and output script.
func TestKey() (*btcec.PrivateKey, btcutil.Address, []byte) {
	seed := sha256.Sum256([]byte("adit regtest mining key"))
	key, _ := btcec.PrivKeyFromBytes(seed[:])
	addr, err := btcutil.NewAddressWitnessPubKeyHash(
		btcutil.Hash160(key.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		panic(err) // a 20-byte hash always makes an address
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		panic(err)
	}
	return key, addr, script
}

// Start launches btcd for t and waits until its RPC answers. The node is
// stopped by t.Cleanup; if the test failed, the tail of btcd's log is
// written to the test log first. Start fails the test when btcd cannot be
// found, installed or started.
func Start(t testing.TB, opts Options) *Node {
	t.Helper()
	bin, err := findBtcd(opts.Binary)
	if err != nil {
		t.Fatalf("regtest: %v", err)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	dir := t.TempDir()
	rpcPort, err := freePort()
	if err != nil {
		t.Fatalf("regtest: %v", err)
	}
	p2pPort, err := freePort()
	if err != nil {
		t.Fatalf("regtest: %v", err)
	}
	conf := filepath.Join(dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatalf("regtest: %v", err)
	}
	key, addr, script := TestKey()
	n := &Node{
		RPCURL:        "http://127.0.0.1:" + strconv.Itoa(rpcPort),
		User:          User,
		Password:      Password,
		P2PAddr:       "127.0.0.1:" + strconv.Itoa(p2pPort),
		Dir:           dir,
		MiningKey:     key,
		MiningAddress: addr,
		MiningScript:  script,
		out:           &syncBuffer{max: 1 << 20},
		exited:        make(chan struct{}),
	}
	args := []string{
		"--regtest", "--notls",
		"--configfile=" + conf,
		"--datadir=" + filepath.Join(dir, "data"),
		"--logdir=" + filepath.Join(dir, "logs"),
		"--rpcuser=" + User, "--rpcpass=" + Password,
		"--rpclisten=127.0.0.1:" + strconv.Itoa(rpcPort),
		"--listen=127.0.0.1:" + strconv.Itoa(p2pPort),
		"--miningaddr=" + addr.EncodeAddress(),
		"--txindex",
		"--nodnsseed", "--nobanning",
	}
	args = append(args, opts.Args...)
	n.cmd = exec.Command(bin, args...)
	n.cmd.Dir = dir
	n.cmd.Stdout = n.out
	n.cmd.Stderr = n.out
	n.cmd.Env = append(os.Environ(), "HOME="+dir) // never touch the real ~/.btcd
	bindLifetime(n.cmd)
	// Pdeathsig follows the thread that forked the child: keep it alive.
	runtime.LockOSThread()
	err = n.cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatalf("regtest: start %s: %v", bin, err)
	}
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			n.dumpLogs(t)
		}
	})
	if err := n.waitReady(opts.StartTimeout); err != nil {
		n.Stop()
		n.dumpLogs(t)
		t.Fatalf("regtest: %v", err)
	}
	return n
}

// Config returns a node.Config for this node (websocket notifications on).
func (n *Node) Config(name string) node.Config {
	return node.Config{Name: name, URL: n.RPCURL, User: n.User, Password: n.Password,
		Timeout: 30 * time.Second, WebsocketNotify: true}
}

// Client returns a new RPC client for this node.
func (n *Node) Client(t testing.TB) *node.Client {
	t.Helper()
	c, err := node.New(n.Config("btcd"), nil, nil)
	if err != nil {
		t.Fatalf("regtest: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Stop stops btcd (SIGINT, then SIGKILL after 10s) and waits for it. It is
// safe to call more than once.
func (n *Node) Stop() {
	n.once.Do(func() {
		if n.cmd.Process == nil {
			return
		}
		_ = n.cmd.Process.Signal(os.Interrupt)
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	})
}

// Logs returns btcd's captured output (the last MiB).
func (n *Node) Logs() string { return n.out.String() }

func (n *Node) dumpLogs(t testing.TB) {
	const tail = 16 << 10
	s := n.Logs()
	if len(s) > tail {
		s = "…" + s[len(s)-tail:]
	}
	t.Logf("btcd output (%s):\n%s", n.Dir, s)
}

func (n *Node) waitReady(timeout time.Duration) error {
	c, err := node.New(node.Config{Name: "probe", URL: n.RPCURL, User: n.User, Password: n.Password,
		Timeout: 2 * time.Second}, nil, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-n.exited:
			return fmt.Errorf("btcd exited during startup: %v", n.cmd.ProcessState)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, last = c.GetBlockCount(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("btcd RPC not ready after %v: %v", timeout, last)
}

// findBtcd locates btcd or installs BtcdVersion with `go install`.
func findBtcd(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p, err := exec.LookPath("btcd"); err == nil {
		return p, nil
	}
	gobin, err := goBinDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(gobin, "btcd")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	cmd := exec.Command("go", "install", "github.com/btcsuite/btcd@"+BtcdVersion)
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOBIN="+gobin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("btcd not found and `go install github.com/btcsuite/btcd@%s` failed: %v\n%s", BtcdVersion, err, out)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("go install reported success but %s is missing", p)
	}
	return p, nil
}

func goBinDir() (string, error) {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) >= 1 && len(bytes.TrimSpace(lines[0])) > 0 {
		return string(bytes.TrimSpace(lines[0])), nil
	}
	if len(lines) >= 2 {
		gp := string(bytes.TrimSpace(lines[1]))
		if i := bytes.IndexByte([]byte(gp), os.PathListSeparator); i >= 0 {
			gp = gp[:i]
		}
		return filepath.Join(gp, "bin"), nil
	}
	return "", errors.New("cannot determine GOBIN or GOPATH")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer keeps the last max bytes written to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
