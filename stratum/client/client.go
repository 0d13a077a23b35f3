package client

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
)

// DefaultRequestMask is the version-rolling mask requested in
// mining.configure when Config.RequestMask is 0.
const DefaultRequestMask uint32 = 0x1fffe000

// DefaultTimeout bounds dialing, each handshake request and each write when
// Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// DefaultIdleTimeout is Config.IdleTimeout's default: pools send a job at
// least every minute or two.
const DefaultIdleTimeout = 10 * time.Minute

// MaxLineLength is the longest line the client accepts from a pool.
const MaxLineLength = 1 << 20

// UserAgent is sent in mining.subscribe.
const UserAgent = "adit-miner/0.1"

// Config configures Dial.
type Config struct {
	// Addr is the pool's host:port.
	Addr string
	// Username (conventionally address.worker) and Password for mining.authorize.
	Username, Password string
	// SuggestDifficulty, when > 0, is sent as mining.suggest_difficulty
	// (fractional values allowed) after subscribing.
	SuggestDifficulty float64
	// VersionRolling requests BIP310 version rolling with RequestMask
	// (DefaultRequestMask when 0; Bitaxe-style firmware asks 0xffffffff).
	VersionRolling bool
	RequestMask    uint32
	// MinimumDifficulty, when > 0, is requested with the BIP310
	// minimum-difficulty extension.
	MinimumDifficulty float64
	// ExtranonceSubscribe sends mining.extranonce.subscribe; MultiVersion
	// sends mining.multi_version. Both mimic firmware quirks.
	ExtranonceSubscribe bool
	MultiVersion        bool
	// Timeout bounds dialing, the whole handshake and each write
	// (DefaultTimeout when 0).
	Timeout time.Duration
	// IdleTimeout ends the Client when the pool sends nothing for this long
	// (DefaultIdleTimeout when 0).
	IdleTimeout time.Duration
	// Dialer, when set, replaces net.Dialer (tests).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// RPCError is a Stratum error reply, [code, "message", null] on the wire.
// It is the stratum package's Error; codes are stratum.Code*.
type RPCError = stratum.Error

// ErrClosed is returned by calls on a closed or disconnected Client.
var ErrClosed = errors.New("client: connection closed")

// Stats are cumulative share counters.
type Stats struct {
	Submitted uint64
	Accepted  uint64
	// Rejected counts rejected shares by Stratum error code.
	Rejected map[int]uint64
	// IOErrors counts submissions that got no reply (timeout, disconnect).
	IOErrors uint64
}

type reply struct {
	result json.RawMessage
	err    *RPCError
}

type pending struct {
	ch chan reply
	// hook, when set, runs on the reader goroutine before any later line is
	// processed, so session state from a reply (extranonce1, mask) is in
	// place before the notifications that follow it.
	hook func(json.RawMessage, *RPCError)
}

// Client is one Stratum V1 connection. Its methods are safe for concurrent
// use. A reader goroutine owns the socket's read side; writes are serialised
// by a mutex and carry a deadline. The Client ends when Close is called, the
// pool disconnects or a protocol error occurs; Done is closed then and Err
// tells why.
type Client struct {
	cfg  Config
	conn net.Conn

	nextID atomic.Uint64
	wmu    sync.Mutex // serialises writes

	mu      sync.Mutex // guards the fields below
	pend    map[uint64]*pending
	en1     []byte
	en2Size int
	subbed  bool
	diff    float64
	mask    uint32
	last    *Notify
	seq     uint64
	stats   Stats
	err     error
	workCh  chan *Work

	done       chan struct{}
	readerDone chan struct{}
	closeOnce  sync.Once
}

// Dial connects to cfg.Addr and performs the handshake: mining.configure
// (when VersionRolling or MinimumDifficulty is set), mining.subscribe,
// mining.suggest_difficulty (when SuggestDifficulty > 0),
// mining.extranonce.subscribe and mining.multi_version (when enabled) and
// mining.authorize. Errors from optional steps other than subscribe and
// authorize are ignored, as firmware ignores them. On error the connection is
// closed.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.RequestMask == 0 {
		cfg.RequestMask = DefaultRequestMask
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	dial := cfg.Dialer
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(dctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", cfg.Addr, err)
	}
	c := &Client{
		cfg:        cfg,
		conn:       conn,
		pend:       make(map[uint64]*pending),
		diff:       1,
		stats:      Stats{Rejected: make(map[int]uint64)},
		workCh:     make(chan *Work, 1),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	go c.readLoop()
	if err := c.handshake(dctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) handshake(ctx context.Context) error {
	cfg := &c.cfg
	if cfg.VersionRolling || cfg.MinimumDifficulty > 0 {
		var exts []string
		opts := map[string]any{}
		if cfg.VersionRolling {
			exts = append(exts, "version-rolling")
			opts["version-rolling.mask"] = Uint32Hex(cfg.RequestMask)
			opts["version-rolling.min-bit-count"] = 2
		}
		if cfg.MinimumDifficulty > 0 {
			exts = append(exts, "minimum-difficulty")
			opts["minimum-difficulty.value"] = cfg.MinimumDifficulty
		}
		if _, _, err := c.call(ctx, c.applyConfigure, stratum.MethodConfigure, exts, opts); err != nil {
			return err
		}
	}
	_, rerr, err := c.call(ctx, c.applySubscribe, stratum.MethodSubscribe, UserAgent)
	if err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("client: mining.subscribe: %w", rerr)
	}
	c.mu.Lock()
	ok := c.subbed
	c.mu.Unlock()
	if !ok {
		return errors.New("client: malformed mining.subscribe result")
	}
	if cfg.SuggestDifficulty > 0 {
		if _, _, err := c.call(ctx, nil, stratum.MethodSuggestDifficulty, cfg.SuggestDifficulty); err != nil {
			return err
		}
	}
	if cfg.ExtranonceSubscribe {
		if _, _, err := c.call(ctx, nil, stratum.MethodExtranonceSub); err != nil {
			return err
		}
	}
	if cfg.MultiVersion {
		if _, _, err := c.call(ctx, nil, stratum.MethodMultiVersion, 1); err != nil {
			return err
		}
	}
	res, rerr, err := c.call(ctx, nil, stratum.MethodAuthorize, cfg.Username, cfg.Password)
	if err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("client: mining.authorize: %w", rerr)
	}
	var ok2 bool
	if json.Unmarshal(res, &ok2) != nil || !ok2 {
		return fmt.Errorf("client: mining.authorize refused: %s", res)
	}
	return nil
}

// applyConfigure records the negotiated version mask from a configure reply.
func (c *Client) applyConfigure(res json.RawMessage, rerr *RPCError) {
	if rerr != nil {
		return
	}
	var m map[string]any
	if json.Unmarshal(res, &m) != nil {
		return
	}
	if on, _ := m["version-rolling"].(bool); !on {
		return
	}
	s, _ := m["version-rolling.mask"].(string)
	mask, err := ParseUint32Hex(s)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.mask = mask & c.cfg.RequestMask
	c.mu.Unlock()
}

// applySubscribe records extranonce1 and the extranonce2 size.
func (c *Client) applySubscribe(res json.RawMessage, rerr *RPCError) {
	if rerr != nil {
		return
	}
	var r []json.RawMessage
	if json.Unmarshal(res, &r) != nil || len(r) < 3 {
		return
	}
	var en1s string
	var size int
	if json.Unmarshal(r[1], &en1s) != nil || json.Unmarshal(r[2], &size) != nil {
		return
	}
	en1, err := hex.DecodeString(en1s)
	if err != nil || size < 1 || size > 32 {
		return
	}
	c.mu.Lock()
	c.en1, c.en2Size, c.subbed = en1, size, true
	c.emitLocked(false)
	c.mu.Unlock()
}

// Work delivers the newest job. The channel holds at most one Work: a slow
// reader skips to the latest. It is closed when the Client ends.
func (c *Client) Work() <-chan *Work { return c.workCh }

// Done is closed when the Client has ended (Close, disconnect, protocol error).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the Client ended, or nil while it runs. After Close it
// returns ErrClosed.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Extranonce returns the current extranonce1 (a copy) and extranonce2 size.
func (c *Client) Extranonce() ([]byte, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.en1...), c.en2Size
}

// VersionMask returns the negotiated version-rolling mask (0: none).
func (c *Client) VersionMask() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mask
}

// Difficulty returns the latest difficulty the pool set.
func (c *Client) Difficulty() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.diff
}

// Stats returns a snapshot of the share counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Rejected = make(map[int]uint64, len(c.stats.Rejected))
	for k, v := range c.stats.Rejected {
		s.Rejected[k] = v
	}
	return s
}

// Call sends a raw request and waits for its reply, the context or the end
// of the Client. It returns the result, the pool's error reply, or an I/O
// error. Params are encoded as a JSON array exactly as given, so tests can
// send malformed requests.
func (c *Client) Call(ctx context.Context, method string, params ...any) (json.RawMessage, *RPCError, error) {
	return c.call(ctx, nil, method, params...)
}

// Submit sends mining.submit: worker, jobID, extranonce2 (hex), ntime and
// nonce (big-endian hex) and, when versionBits is non-nil, the rolled version
// bits. It reports whether the pool accepted the share, the pool's error
// reply if it rejected it, or an I/O error if no reply arrived. Counters in
// Stats are updated.
func (c *Client) Submit(ctx context.Context, worker, jobID string, en2 []byte, ntime, nonce uint32, versionBits *uint32) (bool, *RPCError, error) {
	params := []any{worker, jobID, hex.EncodeToString(en2), Uint32Hex(ntime), Uint32Hex(nonce)}
	if versionBits != nil {
		params = append(params, Uint32Hex(*versionBits))
	}
	res, rerr, err := c.call(ctx, nil, stratum.MethodSubmit, params...)
	ok := false
	if err == nil && rerr == nil {
		if json.Unmarshal(res, &ok) != nil || !ok {
			ok = false
			rerr = &RPCError{Code: stratum.CodeOther, Message: "submit result " + string(res)}
		}
	}
	c.mu.Lock()
	c.stats.Submitted++
	switch {
	case err != nil:
		c.stats.IOErrors++
	case ok:
		c.stats.Accepted++
	default:
		c.stats.Rejected[rerr.Code]++
	}
	c.mu.Unlock()
	return ok, rerr, err
}

func (c *Client) call(ctx context.Context, hook func(json.RawMessage, *RPCError), method string, params ...any) (json.RawMessage, *RPCError, error) {
	if params == nil {
		params = []any{}
	}
	id := c.nextID.Add(1)
	rawParams, err := json.Marshal(params)
	if err != nil {
		return nil, nil, fmt.Errorf("client: encode %s: %w", method, err)
	}
	line, err := json.Marshal(stratum.Request{ID: strconv.AppendUint(nil, id, 10), Method: method, Params: rawParams})
	if err != nil {
		return nil, nil, fmt.Errorf("client: encode %s: %w", method, err)
	}
	p := &pending{ch: make(chan reply, 1), hook: hook}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, nil, err
	}
	c.pend[id] = p
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pend, id)
		c.mu.Unlock()
	}
	if err := c.write(append(line, '\n')); err != nil {
		forget()
		return nil, nil, err
	}
	select {
	case r := <-p.ch:
		return r.result, r.err, nil
	case <-ctx.Done():
		forget()
		return nil, nil, ctx.Err()
	case <-c.done:
		forget()
		return nil, nil, c.Err()
	}
}

func (c *Client) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout)); err != nil {
		return c.fail(fmt.Errorf("client: write: %w", err))
	}
	if _, err := c.conn.Write(b); err != nil {
		return c.fail(fmt.Errorf("client: write: %w", err))
	}
	return nil
}

// fail ends the Client with err (the first error wins) and returns the
// recorded error.
func (c *Client) fail(err error) error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.conn.Close()
	})
	return c.Err()
}

// Close ends the Client and waits for its reader goroutine. It is idempotent.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	<-c.readerDone
	return nil
}

// message is any line a pool sends: a reply (id, result, error) or a
// notification/request (method, params).
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *stratum.Error  `json:"error"`
}

func (c *Client) readLoop() {
	defer close(c.readerDone)
	defer func() {
		c.mu.Lock()
		close(c.workCh)
		c.mu.Unlock()
	}()
	lr := stratum.NewLineReader(c.conn, MaxLineLength)
	for {
		if err := c.conn.SetReadDeadline(time.Now().Add(c.cfg.IdleTimeout)); err != nil {
			c.fail(fmt.Errorf("client: read: %w", err))
			return
		}
		line, err := lr.ReadLine()
		if err != nil {
			c.fail(fmt.Errorf("client: read: %w", err))
			return
		}
		if err := c.handle(line); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *Client) handle(line []byte) error {
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		return fmt.Errorf("client: bad line from pool: %w", err)
	}
	if m.Method != "" {
		return c.handleNotification(&m)
	}
	var id uint64
	if err := json.Unmarshal(m.ID, &id); err != nil {
		return nil // a reply we did not ask for; ignore it
	}
	c.mu.Lock()
	p := c.pend[id]
	delete(c.pend, id)
	c.mu.Unlock()
	if p == nil {
		return nil
	}
	r := reply{result: m.Result, err: m.Error}
	if p.hook != nil {
		p.hook(r.result, r.err)
	}
	p.ch <- r
	return nil
}

func (c *Client) handleNotification(m *message) error {
	switch m.Method {
	case stratum.MethodNotify:
		n, err := ParseNotify(m.Params)
		if err != nil {
			return err
		}
		c.mu.Lock()
		c.last = n
		c.emitLocked(false)
		c.mu.Unlock()
	case stratum.MethodSetDifficulty:
		var p []float64
		if err := json.Unmarshal(m.Params, &p); err != nil || len(p) < 1 || !(p[0] > 0) {
			return fmt.Errorf("client: bad mining.set_difficulty params %s", m.Params)
		}
		c.mu.Lock()
		c.diff = p[0]
		c.mu.Unlock()
	case stratum.MethodSetExtranonce:
		var p []json.RawMessage
		var en1s string
		var size int
		if err := json.Unmarshal(m.Params, &p); err != nil || len(p) < 2 ||
			json.Unmarshal(p[0], &en1s) != nil || json.Unmarshal(p[1], &size) != nil || size < 1 || size > 32 {
			return fmt.Errorf("client: bad mining.set_extranonce params %s", m.Params)
		}
		en1, err := hex.DecodeString(en1s)
		if err != nil {
			return fmt.Errorf("client: bad mining.set_extranonce extranonce1: %w", err)
		}
		c.mu.Lock()
		c.en1, c.en2Size = en1, size
		c.emitLocked(true) // work under the old extranonce is invalid
		c.mu.Unlock()
	case stratum.MethodSetVersionMask:
		var p []string
		if err := json.Unmarshal(m.Params, &p); err != nil || len(p) < 1 {
			return fmt.Errorf("client: bad mining.set_version_mask params %s", m.Params)
		}
		mask, err := ParseUint32Hex(p[0])
		if err != nil {
			return fmt.Errorf("client: bad mining.set_version_mask: %w", err)
		}
		c.mu.Lock()
		c.mask = mask & c.cfg.RequestMask
		c.emitLocked(true)
		c.mu.Unlock()
	default:
		// A server request with an id expects a reply; anything else
		// (client.show_message, client.reconnect notifications) is ignored.
		if len(m.ID) > 0 && string(m.ID) != "null" {
			var res any
			var rerr any
			if m.Method == "client.get_version" {
				res = UserAgent
			} else {
				rerr = []any{stratum.CodeOther, "unsupported method", nil}
			}
			b, _ := json.Marshal(map[string]any{"id": m.ID, "result": res, "error": rerr})
			if err := c.write(append(b, '\n')); err != nil {
				return err
			}
		}
	}
	return nil
}

// emitLocked delivers the latest notify as Work with the current session
// state, replacing any undelivered Work. forceClean marks it clean (state
// changes that invalidate shares of the old work). Callers hold c.mu; only
// the reader goroutine calls it, so the channel has a single producer.
func (c *Client) emitLocked(forceClean bool) {
	if c.last == nil || !c.subbed {
		return
	}
	c.seq++
	w := &Work{
		Notify:          *c.last,
		Extranonce1:     append([]byte(nil), c.en1...),
		Extranonce2Size: c.en2Size,
		Difficulty:      c.diff,
		Target:          share.TargetFromDifficulty(c.diff),
		VersionMask:     c.mask,
		Seq:             c.seq,
	}
	if forceClean {
		w.Clean = true
	}
	select {
	case old := <-c.workCh:
		// A skipped clean job still invalidates what came before it.
		if old.Clean {
			w.Clean = true
		}
	default:
	}
	c.workCh <- w
}
