package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// DefaultBinDir is where Debian/Ubuntu's postgresql-15 package installs its
// server binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// ErrNoPostgres means the Postgres 15 server binaries are not installed.
var ErrNoPostgres = errors.New("pgtest: PostgreSQL 15 binaries not found in " + DefaultBinDir +
	" (install them: apt-get install postgresql; or set ADIT_PG_BIN to the bin directory)")

// Cluster is one Postgres cluster in its own directory. Its methods are safe
// for concurrent use; Start and Stop serialise on an internal mutex.
type Cluster struct {
	dir     string // root: data/, sock/, server.log
	port    int
	bin     string
	runAs   string // "" = current user; else a user name for runuser
	mu      sync.Mutex
	running bool
}

// StartCluster initialises a cluster in dir (created if needed; an existing
// data directory is reused) and starts it on 127.0.0.1:port. port 0 picks a
// free port. The server binaries come from $ADIT_PG_BIN or DefaultBinDir.
func StartCluster(dir string, port int) (*Cluster, error) {
	c, err := NewCluster(dir, port)
	if err != nil {
		return nil, err
	}
	if err := c.Init(); err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	return c, nil
}

// NewCluster prepares (but does not initialise or start) a cluster in dir.
func NewCluster(dir string, port int) (*Cluster, error) {
	bin := os.Getenv("ADIT_PG_BIN")
	if bin == "" {
		bin = DefaultBinDir
	}
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		return nil, ErrNoPostgres
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pgtest: dir: %w", err)
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	c := &Cluster{dir: abs, port: port, bin: bin}
	if os.Geteuid() == 0 {
		c.runAs = "postgres"
		if _, err := user.Lookup(c.runAs); err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs the %q user (apt-get install postgresql): %w", c.runAs, err)
		}
	}
	return c, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Dir is the cluster's root directory.
func (c *Cluster) Dir() string { return c.dir }

// Port is the TCP port the server listens on.
func (c *Cluster) Port() int { return c.port }

// DataDir is the Postgres data directory.
func (c *Cluster) DataDir() string { return filepath.Join(c.dir, "data") }

// LogPath is the server log file.
func (c *Cluster) LogPath() string { return filepath.Join(c.dir, "server.log") }

func (c *Cluster) sockDir() string { return filepath.Join(c.dir, "sock") }

// DSN is a libpq/pgx URL for database "postgres" as user "postgres".
func (c *Cluster) DSN() string { return c.DatabaseDSN("postgres") }

// DatabaseDSN is a URL for the named database.
func (c *Cluster) DatabaseDSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// Running reports whether the server was started and not stopped since.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// Init runs initdb unless the data directory already holds a cluster.
func (c *Cluster) Init() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := os.Stat(filepath.Join(c.DataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	for _, d := range []string{c.dir, c.sockDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("pgtest: mkdir: %w", err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return fmt.Errorf("pgtest: chmod: %w", err)
		}
	}
	if err := c.chown(c.dir, c.sockDir()); err != nil {
		return err
	}
	// A root-owned temp dir above us (0700) would keep "postgres" out.
	if c.runAs != "" {
		if err := c.checkTraversable(); err != nil {
			return err
		}
	}
	out, err := c.run(context.Background(), "initdb",
		"-D", c.DataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync")
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	conf := fmt.Sprintf(`
# pgtest: throwaway cluster, speed over durability
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = '4GB'
checkpoint_timeout = '30min'
shared_buffers = '256MB'
max_connections = 100
log_min_messages = warning
log_line_prefix = '%%m [%%p] '
`, c.port, c.sockDir())
	f, err := os.OpenFile(filepath.Join(c.DataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: postgresql.conf: %w", err)
	}
	_, werr := f.WriteString(conf)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("pgtest: postgresql.conf: %w", werr)
	}
	return nil
}

// Start starts the server and waits until it accepts connections. Starting
// a running cluster is a no-op.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	if f, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o666); err == nil {
		f.Close()
		_ = c.chown(c.LogPath())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60",
		"-D", c.DataDir(), "-l", c.LogPath())
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl start: %w\n%s\nserver log:\n%s", err, out, c.ServerLog())
	}
	c.running = true
	return nil
}

// Stop shuts the server down (fast mode: clients are disconnected, no
// crash recovery needed). Stopping a stopped cluster is a no-op.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := c.run(ctx, "pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", c.DataDir())
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	c.running = false
	return nil
}

// Destroy stops the server and removes the cluster directory.
func (c *Cluster) Destroy() error {
	err := c.Stop()
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}

// ServerLog returns the server log's contents (or a note why it can't).
func (c *Cluster) ServerLog() string {
	b, err := os.ReadFile(c.LogPath())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	return string(b)
}

func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, prog)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	// pg_ctl's server inherits these; keep it from holding our pipes open.
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	return buf.Bytes(), err
}

func (c *Cluster) chown(paths ...string) error {
	if c.runAs == "" {
		return nil
	}
	u, err := user.Lookup(c.runAs)
	if err != nil {
		return fmt.Errorf("pgtest: lookup %s: %w", c.runAs, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("pgtest: chown %s: %w", p, err)
		}
	}
	return nil
}

func (c *Cluster) checkTraversable() error {
	for d := filepath.Dir(c.dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("pgtest: %s is not traversable by %q (mode %v); put the cluster elsewhere", d, c.runAs, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}
