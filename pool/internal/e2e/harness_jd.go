//go:build integration

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/internal/regtest"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/sv2/keys"
)

// SV2Key makes an authority key with aditctl sv2-keygen, as an operator
// does, and returns the key file and the printed public key.
func SV2Key(t testing.TB, bins Binaries) (file, authority string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "sv2.key")
	out, err := exec.Command(bins.Ctl, "sv2-keygen", "-out", file).CombinedOutput()
	if err != nil {
		t.Fatalf("aditctl sv2-keygen: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`authority public key: (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no public key in aditctl output:\n%s", out)
	}
	authority = string(m[1])
	if _, err := keys.ParsePublicKey(authority); err != nil {
		t.Fatalf("aditctl printed %q: %v", authority, err)
	}
	return file, authority
}

// JDDaemon is aditd with Stratum V2 and Job Declaration open.
type JDDaemon struct {
	*Daemon
	SV2Addr   string
	JDAddr    string
	Authority string // the pool's authority public key (base58)
}

// StartJDDaemon starts aditd as StartDaemon does, with a 16-byte extranonce
// area, an authority key from aditctl, the SV2 mining port and the Job
// Declaration Server on free ports (extra is appended to the [jd] section),
// and returns once both listeners accept.
func StartJDDaemon(t testing.TB, bins Binaries, rpc NodeRPC, o DaemonOptions, jdExtra string) *JDDaemon {
	t.Helper()
	keyFile, authority := SV2Key(t, bins)
	d := &JDDaemon{
		SV2Addr:   fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		JDAddr:    fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		Authority: authority,
	}
	o.TopLevel = "extranonce_size = 16\n" + o.TopLevel
	o.Extra += fmt.Sprintf(`
[sv2]
listen = %q
authority_key_file = %q

[jd]
listen = %q
%s
`, d.SV2Addr, keyFile, d.JDAddr, jdExtra)
	d.Daemon = StartDaemon(t, bins, rpc, o)
	// The JDS serves once the pool has its first job.
	for _, addr := range []string{d.SV2Addr, d.JDAddr} {
		Eventually(t, 30*time.Second, "aditd accepts on "+addr, func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
	return d
}

// JDMinerArgs are adit-miner's flags for Job Declaration against d with
// its own node own: templates from own, solo blocks (fallback) to solo.
func (d *JDDaemon) JDMinerArgs(own *regtest.Node, user, solo string) []string {
	return []string{"-jd", "-jd-pool", d.JDAddr, "-sv2", "-pool", d.SV2Addr, "-authority-key", d.Authority,
		"-node-url", own.RPCURL, "-node-user", own.User, "-solo-address", solo, "-user", user, "-json"}
}

// CopyChain submits from's best-chain blocks above to's height to to, so
// two nodes share a history without ever peering (btcd would reconnect
// peers it once knew, and relay between them).
func CopyChain(t testing.TB, from, to *node.Client) {
	t.Helper()
	ctx := context.Background()
	have, err := to.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := from.GetBlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for h := have + 1; h <= tip; h++ {
		_, blk := BestBlock(t, from, h)
		var raw bytes.Buffer
		if err := blk.Serialize(&raw); err != nil {
			t.Fatal(err)
		}
		if reason, err := to.SubmitBlock(ctx, raw.Bytes()); err != nil || reason != "" {
			t.Fatalf("copy block %d: %q, %v", h, reason, err)
		}
	}
}

// Synced waits until every node has the same best block.
func Synced(t testing.TB, timeout time.Duration, nodes ...*node.Client) {
	t.Helper()
	Eventually(t, timeout, "nodes on the same best block", func() bool {
		var first string
		for i, c := range nodes {
			h, err := c.GetBestBlockHash(context.Background())
			if err != nil {
				return false
			}
			if i == 0 {
				first = h.String()
			} else if h.String() != first {
				return false
			}
		}
		return true
	})
}
