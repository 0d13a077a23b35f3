package jdclient

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/codec"
)

// FlagDeclareTxData is the Job Declaration SetupConnection flag
// DECLARE_TX_DATA: the client declares full templates (and answers
// ProvideMissingTransactions). SRI's JDS refuses a connection without it.
const FlagDeclareTxData uint32 = 1 << 0

// Error codes the JDC acts on (SV2-JD.md §1.5).
const (
	// CodeStaleChainTip is the only DeclareMiningJob.Error and
	// SetCustomMiningJob.Error code after which a JDC does not fall back:
	// it waits for the next template instead.
	CodeStaleChainTip = "stale-chain-tip"
)

// Config configures Dial.
type Config struct {
	// Client carries the transport settings (Authority, pinned as
	// sv2/client pins it, InsecureSkipVerify, Plaintext, Timeout, Vendor,
	// ...); Flags is ignored: Dial sends DECLARE_TX_DATA.
	Client client.Config
	// UserIdentifier is sent in every AllocateMiningJobToken (SRI binds
	// the token to it: it should equal the mining channel's user).
	UserIdentifier string
}

// Token is an AllocateMiningJobToken.Success: the token to declare with and
// the pool's required coinbase outputs (CompactSize-prefixed, the first
// paying the pool; Build's poolOutputs).
type Token struct {
	Token   []byte
	Outputs []byte
}

// DeclareError is a DeclareMiningJob.Error from the JDS.
type DeclareError struct {
	Code    string
	Details []byte
}

func (e *DeclareError) Error() string {
	if len(e.Details) > 0 {
		return fmt.Sprintf("jdclient: DeclareMiningJob refused: %s (%q)", e.Code, e.Details)
	}
	return "jdclient: DeclareMiningJob refused: " + e.Code
}

// ErrClosed means the connection is closed.
var ErrClosed = errors.New("jdclient: connection closed")

// Conn is one Job Declaration connection. AllocateToken, Declare and
// PushSolution may be called from any goroutine, concurrently; requests are
// matched to answers by request_id. A reader goroutine answers the JDS's
// ProvideMissingTransactions for pending declarations.
type Conn struct {
	fc   sv2.FrameConn
	user string
	done chan struct{}
	wg   sync.WaitGroup

	wmu sync.Mutex // serializes frame writes

	mu       sync.Mutex
	err      error
	nextReq  uint32
	allocs   map[uint32]chan reply[*Token]
	declares map[uint32]*pendingDeclare
	// Provided counts the transactions sent in ProvideMissingTransactions
	// answers (under mu).
	provided int
}

type reply[T any] struct {
	v   T
	err error
}

type pendingDeclare struct {
	job   *Job
	reply chan reply[[]byte]
}

// Dial connects to a JDS: TCP, the Noise handshake with the pool's
// certificate checked against cfg.Client.Authority, and SetupConnection
// protocol=1 flags=DECLARE_TX_DATA (a refusal is a *client.SetupError).
func Dial(ctx context.Context, addr string, cfg Config) (*Conn, error) {
	cc := cfg.Client
	cc.Flags = FlagDeclareTxData
	fc, _, err := client.DialSetup(ctx, addr, cc, codec.ProtocolJobDeclaration)
	if err != nil {
		return nil, err
	}
	return newConn(fc, cfg.UserIdentifier), nil
}

func newConn(fc sv2.FrameConn, user string) *Conn {
	c := &Conn{fc: fc, user: user, done: make(chan struct{}),
		allocs: map[uint32]chan reply[*Token]{}, declares: map[uint32]*pendingDeclare{}}
	c.wg.Go(c.readLoop)
	return c
}

// Done is closed when the connection ends; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns the error that ended the connection (nil while it is open).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Provided returns how many transactions the connection has supplied in
// answers to ProvideMissingTransactions.
func (c *Conn) Provided() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.provided
}

// Close closes the connection and waits for the reader; pending requests
// fail.
func (c *Conn) Close() error {
	err := c.fc.Close()
	c.wg.Wait()
	return err
}

func (c *Conn) write(m codec.Message) error {
	payload, err := codec.Marshal(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.fc.WriteFrame(codec.HeaderFor(m, len(payload)), payload)
}

// request registers a pending request under a fresh request_id (add runs
// under c.mu), sends msg(id) and waits for the answer, the connection's
// end or ctx's (then the request is forgotten).
func request[T any](ctx context.Context, c *Conn, add func(id uint32, r chan reply[T]), forget func(id uint32), msg func(id uint32) codec.Message) (T, error) {
	var zero T
	r := make(chan reply[T], 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return zero, c.err
	}
	c.nextReq++
	id := c.nextReq
	add(id, r)
	c.mu.Unlock()
	if err := c.write(msg(id)); err != nil {
		return zero, err
	}
	select {
	case a := <-r:
		return a.v, a.err
	case <-ctx.Done():
		c.mu.Lock()
		forget(id)
		c.mu.Unlock()
		return zero, ctx.Err()
	}
}

// AllocateToken sends AllocateMiningJobToken and returns the token and the
// pool's required outputs.
func (c *Conn) AllocateToken(ctx context.Context) (*Token, error) {
	return request(ctx, c,
		func(id uint32, r chan reply[*Token]) { c.allocs[id] = r },
		func(id uint32) { delete(c.allocs, id) },
		func(id uint32) codec.Message {
			return &codec.AllocateMiningJobToken{UserIdentifier: c.user, RequestID: id}
		})
}

// Declare sends DeclareMiningJob for j with an allocated token, answers
// the JDS's ProvideMissingTransactions for it with j's transactions at the
// requested positions, and returns the new (active) token of
// DeclareMiningJob.Success, for SetCustomMiningJob. A DeclareMiningJob.Error
// is a *DeclareError; a ProvideMissingTransactions naming a position
// outside j's list fails the declaration with an error (nothing is sent).
func (c *Conn) Declare(ctx context.Context, j *Job, token []byte) ([]byte, error) {
	return request(ctx, c,
		func(id uint32, r chan reply[[]byte]) { c.declares[id] = &pendingDeclare{job: j, reply: r} },
		func(id uint32) { delete(c.declares, id) },
		func(id uint32) codec.Message { return j.Declare(id, token) })
}

// PushSolution sends a block solution (the full extranonce, as the block's
// coinbase carries it) to the JDS.
func (c *Conn) PushSolution(m *codec.PushSolution) error { return c.write(m) }

func (c *Conn) readLoop() {
	var err error
	defer func() {
		if err == nil {
			err = ErrClosed
		}
		c.mu.Lock()
		c.err = err
		for id, r := range c.allocs {
			r <- reply[*Token]{err: err}
			delete(c.allocs, id)
		}
		for id, p := range c.declares {
			p.reply <- reply[[]byte]{err: err}
			delete(c.declares, id)
		}
		c.mu.Unlock()
		close(c.done)
	}()
	for {
		var h codec.Header
		var payload []byte
		h, payload, err = c.fc.ReadFrame()
		if err != nil {
			return
		}
		var m codec.Message
		if m, err = codec.DecodeMessage(h, payload); err != nil {
			return
		}
		if out := c.handle(m); out != nil {
			if err = c.write(out); err != nil {
				c.fc.Close()
				return
			}
		}
	}
}

// handle dispatches one message from the JDS and returns the answer to
// send, if any; an answer to no pending request is ignored.
func (c *Conn) handle(m codec.Message) codec.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m := m.(type) {
	case *codec.AllocateMiningJobTokenSuccess:
		if r, ok := c.allocs[m.RequestID]; ok {
			delete(c.allocs, m.RequestID)
			r <- reply[*Token]{v: &Token{Token: m.MiningJobToken, Outputs: m.CoinbaseTxOutputs}}
		}
	case *codec.DeclareMiningJobSuccess:
		if p, ok := c.declares[m.RequestID]; ok {
			delete(c.declares, m.RequestID)
			p.reply <- reply[[]byte]{v: m.NewMiningJobToken}
		}
	case *codec.DeclareMiningJobError:
		if p, ok := c.declares[m.RequestID]; ok {
			delete(c.declares, m.RequestID)
			p.reply <- reply[[]byte]{err: &DeclareError{Code: m.ErrorCode, Details: m.ErrorDetails}}
		}
	case *codec.ProvideMissingTransactions:
		p, ok := c.declares[m.RequestID]
		if !ok {
			return nil // SRI's JDS, too, drops answers to unknown requests
		}
		txs := make([][]byte, len(m.UnknownTxPositionList))
		for i, pos := range m.UnknownTxPositionList {
			if int(pos) >= len(p.job.Txs) {
				delete(c.declares, m.RequestID)
				p.reply <- reply[[]byte]{err: fmt.Errorf("jdclient: ProvideMissingTransactions asks for position %d of %d", pos, len(p.job.Txs))}
				return nil
			}
			txs[i] = p.job.Txs[pos]
		}
		c.provided += len(txs)
		return &codec.ProvideMissingTransactionsSuccess{RequestID: m.RequestID, TransactionList: txs}
	}
	return nil
}
