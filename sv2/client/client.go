// Package client is a small Stratum V2 mining client: it dials a pool,
// runs the Noise NX handshake (verifying the pool certificate against the
// authority public key), sends SetupConnection, opens standard or extended
// channels, turns the pool's jobs, targets and prev-hashes into Work, and
// submits shares. It serves adit-miner and the tests.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

// Config configures Dial.
type Config struct {
	// Authority is the pool's authority public key; the server certificate
	// must be signed by it. Required unless InsecureSkipVerify or Plaintext.
	Authority *keys.PublicKey
	// InsecureSkipVerify skips the certificate check (tests only).
	InsecureSkipVerify bool
	// Plaintext speaks unencrypted frames (the pool's test-only port).
	Plaintext bool
	// Flags are the SetupConnection flags (sv2.FlagRequiresStandardJobs...).
	Flags uint32
	// Vendor, Firmware and DeviceID are sent in SetupConnection.
	Vendor, Firmware, DeviceID string
	// Timeout bounds dial, handshake and SetupConnection (default 10 s).
	Timeout time.Duration
	// Now is the clock for the certificate validity window.
	Now func() time.Time
	// MaxFrameLength bounds incoming frames (default 1 MiB).
	MaxFrameLength int
	// Extensions, when not empty, are requested with RequestExtensions
	// (extension 0x0001) right after SetupConnection.Success, as SRI's
	// translator does; Dial waits for the pool's answer (Client.Extensions)
	// within Timeout, so a pool that never answers makes Dial fail.
	Extensions []uint16
}

// ExtensionsReply is the pool's answer to RequestExtensions. A refusal
// does not end the connection: the client then uses no extension.
type ExtensionsReply struct {
	// Accepted reports RequestExtensions.Success; Supported then lists the
	// extensions enabled on the connection.
	Accepted  bool
	Supported []uint16
	// Unsupported and Required are RequestExtensions.Error's lists: the
	// requested extensions the pool does not support, and the ones it
	// requires that were not requested (the pool disconnects a client
	// that does not ask again with them).
	Unsupported, Required []uint16
}

// SetupError is a SetupConnection.Error or OpenMiningChannel.Error from the
// pool: Code is the reference error string.
type SetupError struct {
	Msg  string
	Code string
}

func (e *SetupError) Error() string { return "sv2 client: " + e.Msg + ": " + e.Code }

// ErrClosed means the connection is closed.
var ErrClosed = errors.New("sv2 client: connection closed")

// ReconnectError is how a connection ends when the pool sent Reconnect:
// the client closes it at once, and the miner should dial Target.
type ReconnectError struct {
	// Host and Port are the message's new_host and new_port; an empty
	// host or a zero port means the current one.
	Host string
	Port uint16
}

func (e *ReconnectError) Error() string {
	return fmt.Sprintf("sv2 client: pool asked to reconnect to %q port %d", e.Host, e.Port)
}

// Target returns the address to dial instead of current (host:port): the
// new host and port, each defaulting to current's.
func (e *ReconnectError) Target(current string) string {
	host, port, err := net.SplitHostPort(current)
	if err != nil {
		host, port = current, ""
	}
	if e.Host != "" {
		host = e.Host
	}
	if e.Port != 0 {
		port = strconv.Itoa(int(e.Port))
	}
	return net.JoinHostPort(host, port)
}

// Channel is an open channel.
type Channel struct {
	ID       uint32
	GroupID  uint32
	Extended bool
	// ExtranoncePrefix is the pool's part (for a standard channel, the full
	// extranonce); ExtranonceSize the miner's part (extended channels).
	ExtranoncePrefix []byte
	ExtranonceSize   int
	// Target is the target at open time (later changes arrive in Work).
	Target share.Target
}

// Work is an active job on one channel, ready to hash.
type Work struct {
	ChannelID      uint32
	JobID          uint32
	Extended       bool
	Version        uint32
	VersionRolling bool
	PrevHash       [32]byte
	NBits          uint32
	MinNTime       uint32
	Target         share.Target
	// Standard channels: the merkle root the pool computed (or, for jobs
	// delivered through the group channel, computed here).
	MerkleRoot [32]byte
	// Extended channels: the coinbase parts, merkle path and extranonce
	// layout.
	CoinbasePrefix, CoinbaseSuffix []byte
	MerklePath                     [][32]byte
	ExtranoncePrefix               []byte
	ExtranonceSize                 int
	// Custom marks the work of a custom job the client set with
	// SetCustomMiningJob (Job Declaration), not one the pool sent.
	Custom bool
}

// Root returns the merkle root for the miner's extranonce (extended) or
// the pool's (standard; extranonce ignored).
func (w *Work) Root(extranonce []byte) [32]byte {
	if !w.Extended {
		return w.MerkleRoot
	}
	cb := make([]byte, 0, len(w.CoinbasePrefix)+len(w.ExtranoncePrefix)+len(extranonce)+len(w.CoinbaseSuffix))
	cb = append(append(append(append(cb, w.CoinbasePrefix...), w.ExtranoncePrefix...), extranonce...), w.CoinbaseSuffix...)
	return share.MerkleRoot(share.DoubleSHA256(cb), w.MerklePath)
}

// Header builds the 80-byte header for root (from Root), ntime, nonce and
// the full version.
func (w *Work) Header(root *[32]byte, ntime, nonce, version uint32) share.Header {
	var h share.Header
	share.PutHeader(&h, version, &w.PrevHash, root, ntime, w.NBits, nonce)
	return h
}

// Result is the pool's answer to submitted shares: a SubmitShares.Success
// (Accepted > 0, acknowledging every share up to LastSequence) or a
// SubmitShares.Error for one share (Code set).
type Result struct {
	ChannelID    uint32
	Sequence     uint32 // Error: the share's sequence; Success: last_sequence_number
	Accepted     uint32
	SharesSum    uint64
	Code         string
	Acknowledged bool
}

// Client is one connection to a pool. Open* and Submit* may be called from
// any goroutine; Work and Results must be drained by the caller.
type Client struct {
	conn    sv2.FrameConn
	flags   uint32 // the SetupConnection flags sent
	work    chan Work
	results chan Result
	done    chan struct{}
	wg      sync.WaitGroup

	wmu sync.Mutex // serializes writes and seq
	seq uint32

	mu        sync.Mutex
	err       error
	nextReq   uint32
	pending   map[uint32]chan openReply
	customs   map[uint32]pendingCustom // SetCustomMiningJob by request_id
	channels  map[uint32]*chanState
	reconnect *codec.Reconnect
	setupOK   codec.SetupConnectionSuccess
	ext       *ExtensionsReply // set by Dial, read-only afterwards
}

type openReply struct {
	ch  *Channel
	err error
}

type chanState struct {
	Channel
	target share.Target
	jobs   map[uint32]codec.Message // NewMiningJob / NewExtendedMiningJob by job id
	prev   *codec.SetNewPrevHash
	active uint32
	// group channel only: member standard channel ids.
	members []uint32
	group   bool
}

// Dial connects, handshakes and sets the connection up for mining.
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	var c *Client
	_, err := dialSetup(ctx, addr, &cfg, func(fc sv2.FrameConn) error {
		c = &Client{conn: fc, flags: cfg.Flags}
		return c.setup(addr, cfg)
	})
	if err != nil {
		return nil, err
	}
	c.work = make(chan Work, 64)
	c.results = make(chan Result, 1024)
	c.done = make(chan struct{})
	c.pending = make(map[uint32]chan openReply)
	c.customs = make(map[uint32]pendingCustom)
	c.channels = make(map[uint32]*chanState)
	c.wg.Go(c.readLoop)
	return c, nil
}

// DialSetup dials addr, runs the Noise NX handshake (the certificate
// checked against cfg.Authority, as Dial does; or plaintext frames with
// cfg.Plaintext) and sends SetupConnection for protocol with cfg.Flags,
// all within cfg.Timeout (default 10 s). It returns the frame connection,
// with no deadline left on it, and the server's SetupConnection.Success; a
// SetupConnection.Error is a *SetupError. Other subprotocols' clients
// (Job Declaration: sv2/jdclient) build on it.
func DialSetup(ctx context.Context, addr string, cfg Config, protocol codec.Protocol) (sv2.FrameConn, *codec.SetupConnectionSuccess, error) {
	var ok *codec.SetupConnectionSuccess
	fc, err := dialSetup(ctx, addr, &cfg, func(fc sv2.FrameConn) (err error) {
		ok, err = setupConnection(fc, protocol, addr, cfg)
		return err
	})
	return fc, ok, err
}

// dialSetup dials and handshakes, then runs setup on the frame connection
// under the timeout (ctx's end or the timeout interrupts its reads and
// writes). On error the connection is closed.
func dialSetup(ctx context.Context, addr string, cfg *Config, setup func(sv2.FrameConn) error) (sv2.FrameConn, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var fc sv2.FrameConn
	if cfg.Plaintext {
		max := cfg.MaxFrameLength
		if max <= 0 {
			max = 1 << 20
		}
		fc = sv2.NewPlainConn(nc, max)
	} else {
		in := noise.Initiator{Authority: cfg.Authority, InsecureSkipVerify: cfg.InsecureSkipVerify,
			Now: cfg.Now, Timeout: cfg.Timeout, MaxFrameLength: uint32(cfg.MaxFrameLength)}
		c, err := in.Handshake(ctx, nc)
		if err != nil {
			nc.Close()
			return nil, err
		}
		fc = c
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	err = setup(fc)
	if !stop() && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return fc, nil
}

// setupConnection sends SetupConnection for protocol and reads the answer.
func setupConnection(fc sv2.FrameConn, protocol codec.Protocol, addr string, cfg Config) (*codec.SetupConnectionSuccess, error) {
	if err := writeMessage(fc, &codec.SetupConnection{
		Protocol: uint8(protocol), MinVersion: 2, MaxVersion: 2, Flags: cfg.Flags,
		EndpointHost: hostOf(addr), Vendor: cfg.Vendor, Firmware: cfg.Firmware, DeviceID: cfg.DeviceID,
	}); err != nil {
		return nil, err
	}
	_, m, err := readMessage(fc)
	if err != nil {
		return nil, err
	}
	switch m := m.(type) {
	case *codec.SetupConnectionSuccess:
		return m, nil
	case *codec.SetupConnectionError:
		return nil, &SetupError{Msg: "SetupConnection refused", Code: m.ErrorCode}
	default:
		return nil, fmt.Errorf("sv2 client: unexpected %T in reply to SetupConnection", m)
	}
}

// setup sends SetupConnection and, when cfg.Extensions is not empty,
// RequestExtensions, and reads the pool's answers. It runs before the reader
// starts; a refusal of SetupConnection is a *SetupError.
func (c *Client) setup(addr string, cfg Config) error {
	ok, err := setupConnection(c.conn, codec.ProtocolMining, addr, cfg)
	if err != nil {
		return err
	}
	c.setupOK = *ok
	if len(cfg.Extensions) == 0 {
		return nil
	}
	return c.requestExtensions(cfg.Extensions)
}

// extensionsRequestID is the request_id of the one RequestExtensions Dial
// sends.
const extensionsRequestID = 1

// requestExtensions sends RequestExtensions for exts and records the pool's
// answer in c.ext. Any other reply, or one for another request_id, is an
// error.
func (c *Client) requestExtensions(exts []uint16) error {
	m, err := c.exchange(&codec.RequestExtensions{RequestID: extensionsRequestID, RequestedExtensions: exts})
	if err != nil {
		return err
	}
	switch m := m.(type) {
	case *codec.RequestExtensionsSuccess:
		if m.RequestID == extensionsRequestID {
			c.ext = &ExtensionsReply{Accepted: true, Supported: m.SupportedExtensions}
			return nil
		}
	case *codec.RequestExtensionsError:
		if m.RequestID == extensionsRequestID {
			c.ext = &ExtensionsReply{Unsupported: m.UnsupportedExtensions, Required: m.RequiredExtensions}
			return nil
		}
	}
	return fmt.Errorf("sv2 client: unexpected %s in reply to RequestExtensions %d", codec.KindOf(m), extensionsRequestID)
}

// exchange writes m and reads the next message (Dial only: the reader is
// not running yet).
func (c *Client) exchange(m codec.Message) (codec.Message, error) {
	if err := c.write(m); err != nil {
		return nil, err
	}
	_, r, err := readMessage(c.conn)
	return r, err
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func readMessage(fc sv2.FrameConn) (codec.Header, codec.Message, error) {
	h, p, err := fc.ReadFrame()
	if err != nil {
		return h, nil, err
	}
	m, err := codec.DecodeMessage(h, p)
	return h, m, err
}

// SetupFlags returns the flags of the pool's SetupConnection.Success.
func (c *Client) SetupFlags() uint32 { return c.setupOK.Flags }

// Extensions returns the pool's answer to the RequestExtensions Dial sent,
// or nil when Config.Extensions was empty.
func (c *Client) Extensions() *ExtensionsReply { return c.ext }

// Work delivers each job as it becomes active, and again when the
// channel's target changes.
func (c *Client) Work() <-chan Work { return c.work }

// Results delivers share acknowledgements and rejections.
func (c *Client) Results() <-chan Result { return c.results }

// Done is closed when the connection ends; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns the error that ended the connection (nil while it is open).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Reconnect returns the pool's Reconnect request, if one arrived (the
// connection then ended with a *ReconnectError).
func (c *Client) Reconnect() *codec.Reconnect {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reconnect
}

// Close closes the connection and waits for the reader.
func (c *Client) Close() error {
	err := c.conn.Close()
	c.wg.Wait()
	return err
}

func (c *Client) write(m codec.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(m)
}

func (c *Client) writeLocked(m codec.Message) error { return writeMessage(c.conn, m) }

func writeMessage(fc sv2.FrameConn, m codec.Message) error {
	payload, err := codec.Marshal(m)
	if err != nil {
		return err
	}
	return fc.WriteFrame(codec.HeaderFor(m, len(payload)), payload)
}

// OpenStandard opens a standard channel (header-only mining) with no
// limit on the target.
func (c *Client) OpenStandard(ctx context.Context, user string, hashrate float32) (*Channel, error) {
	return c.OpenStandardMax(ctx, user, hashrate, share.MaxTarget)
}

// OpenStandardMax opens a standard channel whose target may not exceed max.
func (c *Client) OpenStandardMax(ctx context.Context, user string, hashrate float32, max share.Target) (*Channel, error) {
	return c.open(ctx, func(id uint32) codec.Message {
		return &codec.OpenStandardMiningChannel{RequestID: id, UserIdentity: user, NominalHashRate: hashrate, MaxTarget: max.LE()}
	})
}

// OpenExtended opens an extended channel with at least minExtranonce bytes
// of miner extranonce and no limit on the target.
func (c *Client) OpenExtended(ctx context.Context, user string, hashrate float32, minExtranonce uint16) (*Channel, error) {
	return c.OpenExtendedMax(ctx, user, hashrate, minExtranonce, share.MaxTarget)
}

// OpenExtendedMax opens an extended channel whose target may not exceed max.
func (c *Client) OpenExtendedMax(ctx context.Context, user string, hashrate float32, minExtranonce uint16, max share.Target) (*Channel, error) {
	return c.open(ctx, func(id uint32) codec.Message {
		return &codec.OpenExtendedMiningChannel{RequestID: id, UserIdentity: user, NominalHashRate: hashrate,
			MaxTarget: max.LE(), MinExtranonceSize: minExtranonce}
	})
}

func (c *Client) open(ctx context.Context, msg func(id uint32) codec.Message) (*Channel, error) {
	reply := make(chan openReply, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.nextReq++
	id := c.nextReq
	c.pending[id] = reply
	c.mu.Unlock()
	if err := c.write(msg(id)); err != nil {
		return nil, err
	}
	r := await(ctx, c, reply, func(err error) openReply { return openReply{err: err} },
		func() { delete(c.pending, id) })
	return r.ch, r.err
}

// await waits for the answer to a request: from reply; at the
// connection's end, the answer if it arrived just before (a pool's
// Reconnect right after it), else fail(Err()); at ctx's end,
// fail(ctx.Err()) after forget, run under c.mu, dropped the request.
func await[T any](ctx context.Context, c *Client, reply <-chan T, fail func(error) T, forget func()) T {
	select {
	case r := <-reply:
		return r
	case <-c.done:
		select {
		case r := <-reply:
			return r
		default:
		}
		return fail(c.Err())
	case <-ctx.Done():
		c.mu.Lock()
		forget()
		c.mu.Unlock()
		return fail(ctx.Err())
	}
}

// SubmitStandard submits a share for w on a standard channel and returns
// its sequence number.
func (c *Client) SubmitStandard(w *Work, ntime, nonce, version uint32) (uint32, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq++
	return c.seq, c.writeLocked(&codec.SubmitSharesStandard{ChannelID: w.ChannelID, SequenceNumber: c.seq,
		JobID: w.JobID, Nonce: nonce, NTime: ntime, Version: version})
}

// SubmitExtended submits a share for w on an extended channel.
func (c *Client) SubmitExtended(w *Work, extranonce []byte, ntime, nonce, version uint32) (uint32, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq++
	return c.seq, c.writeLocked(&codec.SubmitSharesExtended{ChannelID: w.ChannelID, SequenceNumber: c.seq,
		JobID: w.JobID, Nonce: nonce, NTime: ntime, Version: version, Extranonce: extranonce})
}

// Submit submits for w on whichever channel type it belongs to.
func (c *Client) Submit(w *Work, extranonce []byte, ntime, nonce, version uint32) (uint32, error) {
	if w.Extended {
		return c.SubmitExtended(w, extranonce, ntime, nonce, version)
	}
	return c.SubmitStandard(w, ntime, nonce, version)
}

// UpdateChannel sends UpdateChannel (nominal hash rate, maximum target).
func (c *Client) UpdateChannel(id uint32, hashrate float32, maxTarget share.Target) error {
	return c.write(&codec.UpdateChannel{ChannelID: id, NominalHashRate: hashrate, MaximumTarget: maxTarget.LE()})
}

// CloseChannel closes a channel.
func (c *Client) CloseChannel(id uint32) error {
	return c.write(&codec.CloseChannel{ChannelID: id, ReasonCode: "closed"})
}
