// Package clienttest provides a minimal scripted Stratum V1 pool for tests of
// the client package and the miner: it speaks just enough of the protocol
// (configure, subscribe, authorize, the quirk methods, submit) and judges
// every share with a real share.Validator, so a share it accepts is one the
// real pool would accept. It is not a pool: no vardiff, no limits.
package clienttest

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/stratum"
)

// Config configures a Pool.
type Config struct {
	// Difficulty is the share difficulty sent to every session (default 1e-4).
	Difficulty float64
	// Mask is the pool's version-rolling mask (default 0x1fffe000).
	Mask uint32
	// Extranonce2Size is the miner's extranonce2 size (default 8).
	Extranonce2Size int
}

// Pool is a scripted Stratum V1 peer listening on a loopback port. Its
// methods are safe for concurrent use.
type Pool struct {
	cfg Config
	ln  net.Listener
	V   *share.Validator

	mu       sync.Mutex
	conns    map[*conn]struct{}
	job      *share.Job
	nextEN   uint32
	accepted int
	rejected map[int]int
	requests []string // methods in arrival order
	wg       sync.WaitGroup
}

type conn struct {
	nc   net.Conn
	mu   sync.Mutex // guards sess, subscribed and writes
	sess *share.Session
	sub  bool
}

// NewPool starts a Pool with one job (see Job) and stops it at test cleanup.
func NewPool(tb testing.TB, cfg Config) *Pool {
	tb.Helper()
	if cfg.Difficulty == 0 {
		cfg.Difficulty = 1e-4
	}
	if cfg.Mask == 0 {
		cfg.Mask = 0x1fffe000
	}
	if cfg.Extranonce2Size == 0 {
		cfg.Extranonce2Size = 8
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Pool{cfg: cfg, ln: ln, V: share.NewValidator(share.ValidatorConfig{}),
		conns: map[*conn]struct{}{}, rejected: map[int]int{}}
	p.job = Job(1, 4+cfg.Extranonce2Size, true)
	p.V.AddJob(p.job)
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.Close)
	return p
}

// Job returns a synthetic job with the given id whose extranonce area is
// enSize bytes. Its network target (regtest bits) is met by most hashes.
func Job(id uint32, enSize int, clean bool) *share.Job {
	now := uint32(time.Now().Unix())
	prefix, _ := hex.DecodeString("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2003a08601")
	prefix = append(prefix, []byte("/adit-test/")...)
	suffix, _ := hex.DecodeString("ffffffff0100f2052a010000001976a914000000000000000000000000000000000000000088ac00000000")
	var prev [32]byte
	binary.LittleEndian.PutUint32(prev[:], id*7919)
	prev[31] = 0x5a
	branch := [][32]byte{{1, 2, 3}, {4, 5, 6}}
	return &share.Job{
		ID: id, Height: 100000, PrevHash: prev, Version: 0x20000000,
		Bits: 0x207fffff, NetworkTarget: share.TargetFromCompact(0x207fffff),
		MinTime: now - 3600, CurTime: now,
		CoinbasePrefix: prefix, CoinbaseSuffix: suffix, ExtranonceSize: enSize,
		MerkleBranch: branch, Clean: clean, Created: time.Now(),
	}
}

// Addr is the pool's host:port.
func (p *Pool) Addr() string { return p.ln.Addr().String() }

// Accepted returns how many shares the pool accepted.
func (p *Pool) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Rejected returns rejected-share counts by error code.
func (p *Pool) Rejected() map[int]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[int]int{}
	for k, v := range p.rejected {
		out[k] = v
	}
	return out
}

// Methods returns the request methods received so far, in order.
func (p *Pool) Methods() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Broadcast publishes j and sends it to every subscribed session.
func (p *Pool) Broadcast(j *share.Job) {
	p.V.AddJob(j)
	p.mu.Lock()
	p.job = j
	conns := make([]*conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		if c.sub {
			c.sendJobLocked(j)
		}
		c.mu.Unlock()
	}
}

// Close stops the listener, closes every connection and waits for the
// pool's goroutines. It is idempotent.
func (p *Pool) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.nc.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Pool) accept() {
	defer p.wg.Done()
	for {
		nc, err := p.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{nc: nc}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		p.nextEN++
		en1 := binary.BigEndian.AppendUint32(nil, p.nextEN)
		p.mu.Unlock()
		c.sess = p.V.NewSession(en1, share.TargetFromDifficulty(p.cfg.Difficulty))
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (c *conn) writeLocked(b []byte) {
	c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.nc.Write(b)
}

func (c *conn) sendJobLocked(j *share.Job) {
	c.sess.JobSent(j)
	n := stratum.NotifyFromJob(j, j.Clean)
	c.writeLocked(stratum.AppendNotify(nil, &n))
}

func (p *Pool) serve(c *conn) {
	defer p.wg.Done()
	defer func() {
		c.nc.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	lr := stratum.NewLineReader(c.nc, 16<<10)
	var req stratum.Request
	for {
		line, err := lr.ReadLine()
		if err != nil {
			return
		}
		if err := stratum.ParseRequest(line, &req); err != nil {
			return
		}
		p.mu.Lock()
		p.requests = append(p.requests, req.Method)
		p.mu.Unlock()
		var params []json.RawMessage
		_ = json.Unmarshal(req.Params, &params)
		c.mu.Lock()
		result, rerr, after := p.handle(c, req.Method, params)
		c.writeLocked(stratum.AppendResponse(nil, req.ID, result, rerr))
		if after != nil {
			after()
		}
		c.mu.Unlock()
	}
}

// handle answers one request; after, if non-nil, runs after the reply is
// written (with c.mu held).
func (p *Pool) handle(c *conn, method string, params []json.RawMessage) ([]byte, *stratum.Error, func()) {
	switch method {
	case stratum.MethodConfigure:
		var opts map[string]any
		if len(params) > 1 {
			_ = json.Unmarshal(params[1], &opts)
		}
		res := map[string]any{}
		if s, ok := opts["version-rolling.mask"].(string); ok {
			req, _ := strconv.ParseUint(s, 16, 32)
			mask := p.cfg.Mask & uint32(req)
			c.sess.SetVersionMask(mask)
			res["version-rolling"] = true
			res["version-rolling.mask"] = stratum.FormatJobID(mask)
		}
		if _, ok := opts["minimum-difficulty.value"]; ok {
			res["minimum-difficulty"] = true
		}
		b, _ := json.Marshal(res)
		return b, nil, nil
	case stratum.MethodSubscribe:
		c.sub = true
		b, _ := json.Marshal([]any{
			[][]string{{"mining.set_difficulty", "1"}, {"mining.notify", "1"}},
			hex.EncodeToString(c.sess.Prefix()), p.cfg.Extranonce2Size,
		})
		return b, nil, func() {
			c.writeLocked(stratum.AppendSetDifficulty(nil, p.cfg.Difficulty))
			p.mu.Lock()
			j := p.job
			p.mu.Unlock()
			c.sendJobLocked(j)
		}
	case stratum.MethodAuthorize, stratum.MethodSuggestDifficulty, stratum.MethodExtranonceSub, stratum.MethodMultiVersion:
		return []byte("true"), nil, nil
	case stratum.MethodSubmit:
		return p.submit(c, params)
	}
	return nil, &stratum.Error{Code: stratum.CodeOther, Message: "unknown method"}, nil
}

func (p *Pool) submit(c *conn, params []json.RawMessage) ([]byte, *stratum.Error, func()) {
	bad := &stratum.Error{Code: stratum.CodeOther, Message: "bad params"}
	if len(params) < 5 {
		return nil, bad, nil
	}
	var s [6]string
	for i := range params[:min(len(params), 6)] {
		if json.Unmarshal(params[i], &s[i]) != nil {
			return nil, bad, nil
		}
	}
	var sub share.Submission
	id, err1 := strconv.ParseUint(s[1], 16, 32)
	en2, err2 := hex.DecodeString(s[2])
	ntime, err3 := strconv.ParseUint(s[3], 16, 32)
	nonce, err4 := strconv.ParseUint(s[4], 16, 32)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return nil, bad, nil
	}
	sub.JobID, sub.Extranonce, sub.NTime, sub.Nonce = uint32(id), en2, uint32(ntime), uint32(nonce)
	if len(params) > 5 {
		vb, err := strconv.ParseUint(s[5], 16, 32)
		if err != nil {
			return nil, bad, nil
		}
		sub.VersionBits, sub.HasVersion = uint32(vb), true
	}
	var res share.Result
	c.sess.Validate(&sub, &res)
	p.mu.Lock()
	defer p.mu.Unlock()
	if res.Accepted() {
		p.accepted++
		return []byte("true"), nil, nil
	}
	code, msg := stratum.RejectError(res.Reason)
	p.rejected[code]++
	return nil, &stratum.Error{Code: code, Message: msg}, nil
}
