package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries are the project's commands built once per test binary.
type Binaries struct {
	Aditd, Miner, Ctl, Proxy string
}

// Build compiles aditd, adit-miner, aditctl and adit-proxy into dir.
func Build(dir string) (Binaries, error) {
	b := Binaries{
		Aditd: filepath.Join(dir, "aditd"),
		Miner: filepath.Join(dir, "adit-miner"),
		Ctl:   filepath.Join(dir, "aditctl"),
		Proxy: filepath.Join(dir, "adit-proxy"),
	}
	root, err := moduleRoot()
	if err != nil {
		return b, err
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/aditd", "./cmd/adit-miner", "./cmd/aditctl", "./cmd/adit-proxy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return b, fmt.Errorf("go build: %v\n%s", err, out)
	}
	return b, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Process is a started command whose output is kept for failure reports.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs bin with args and env (added to the test's environment). The
// process is stopped with SIGKILL at test cleanup if still running, and its
// output is logged when the test failed.
func Start(t testing.TB, name, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("---- %s output ----\n%s", name, tail(p.Output(), 150))
		}
	})
	return p
}

// Output is everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig and waits up to timeout for the exit; it returns the
// exit error (nil for status 0).
func (p *Process) Signal(sig syscall.Signal, timeout time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s did not exit within %v of %v", p.Name, timeout, sig)
	}
}

// Kill ends the process at once and waits for it.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// Daemon is a running aditd.
type Daemon struct {
	*Process
	StratumAddr string
	HTTPAddr    string
}

// NodeRPC is how the daemon reaches btcd.
type NodeRPC struct {
	URL, User, Password string
}

// DaemonOptions adjust the generated configuration.
type DaemonOptions struct {
	PayoutAddress string
	// Extra is appended to the TOML file verbatim (sections of its own).
	Extra string
	// TopLevel is inserted before the first section.
	TopLevel string
	Env      []string
}

// StartDaemon writes a regtest configuration for node on free ports and
// starts aditd, returning once its metrics endpoint answers.
func StartDaemon(t testing.TB, bins Binaries, node NodeRPC, o DaemonOptions) *Daemon {
	t.Helper()
	d := &Daemon{
		StratumAddr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		HTTPAddr:    fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
	}
	cfg := fmt.Sprintf(`network = "regtest"
instance = "e2e"
payout_address = %q
pool_tag = "/adit-e2e/"
%s
[[node]]
name = "btcd"
url = %q
user = %q
websocket = true

[stratum]
listen = %q

[http]
listen = %q

[templates]
poll = "200ms"
%s
`, o.PayoutAddress, o.TopLevel, node.URL, node.User, d.StratumAddr, d.HTTPAddr, o.Extra)
	path := filepath.Join(t.TempDir(), "aditd.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append([]string{"ADIT_NODE_0_PASSWORD=" + node.Password}, o.Env...)
	d.Process = Start(t, "aditd", bins.Aditd, env, "-config", path, "-log-format", "json")
	Eventually(t, 30*time.Second, "aditd serves metrics and stratum", func() bool {
		if d.Exited() {
			t.Fatalf("aditd exited early:\n%s", tail(d.Output(), 40))
		}
		if _, err := d.Metrics(); err != nil {
			return false
		}
		c, err := net.DialTimeout("tcp", d.StratumAddr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return d
}

// Metrics scrapes /metrics into "name{labels}" → value.
func (d *Daemon) Metrics() (map[string]float64, error) { return Scrape(d.HTTPAddr) }

// Scrape reads the Prometheus /metrics of the HTTP server at addr into
// "name{labels}" → value.
func Scrape(addr string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	return m, sc.Err()
}

// Metric returns one series (0 when absent or unreachable).
func (d *Daemon) Metric(series string) float64 { return ScrapeOne(d.HTTPAddr, series) }

// ScrapeOne is one series of Scrape(addr), 0 when absent or unreachable.
func ScrapeOne(addr, series string) float64 {
	m, err := Scrape(addr)
	if err != nil {
		return 0
	}
	return m[series]
}

// Eventually polls cond every 100 ms until it holds or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
