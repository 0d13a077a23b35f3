package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/codec"
)

// CustomJobError is a SetCustomMiningJob.Error from the pool; Code is the
// reference error string (SV2-JD.md §1.5), e.g. "stale-chain-tip".
type CustomJobError struct {
	ChannelID uint32
	Code      string
}

func (e *CustomJobError) Error() string {
	return fmt.Sprintf("sv2 client: SetCustomMiningJob on channel %d refused: %s", e.ChannelID, e.Code)
}

// ErrNoWorkSelection means SetCustomMiningJob was called on a connection
// set up without sv2.FlagRequiresWorkSelection.
var ErrNoWorkSelection = errors.New("sv2 client: SetCustomMiningJob needs a connection set up with REQUIRES_WORK_SELECTION")

type customReply struct {
	work *Work
	err  error
}

// pendingCustom is a SetCustomMiningJob awaiting the pool's answer.
type pendingCustom struct {
	req   *codec.SetCustomMiningJob
	reply chan customReply
}

// SetCustomMiningJob sends m (a custom job for m.ChannelID, an extended
// channel of this connection; the client assigns m.RequestID) and waits for
// the pool's answer. On SetCustomMiningJob.Success the job becomes the
// channel's active job: its Work (Custom set, built by CustomJobCoinbase
// from m's coinbase fields and merkle path, with the channel's extranonce
// layout and current target) is returned and also delivered on Work(), as
// again after each SetTarget. A SetCustomMiningJob.Error is a
// *CustomJobError. The connection must have been set up with
// sv2.FlagRequiresWorkSelection. m must not be modified afterwards.
func (c *Client) SetCustomMiningJob(ctx context.Context, m *codec.SetCustomMiningJob) (*Work, error) {
	if c.flags&sv2.FlagRequiresWorkSelection == 0 {
		return nil, ErrNoWorkSelection
	}
	reply := make(chan customReply, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	ch := c.channels[m.ChannelID]
	if ch == nil || !ch.Extended {
		c.mu.Unlock()
		return nil, fmt.Errorf("sv2 client: SetCustomMiningJob: %d is not an open extended channel", m.ChannelID)
	}
	c.nextReq++
	m.RequestID = c.nextReq
	c.customs[m.RequestID] = pendingCustom{req: m, reply: reply}
	c.mu.Unlock()
	if err := c.write(m); err != nil {
		return nil, err
	}
	r := await(ctx, c, reply, func(err error) customReply { return customReply{err: err} },
		func() { delete(c.customs, m.RequestID) })
	return r.work, r.err
}

// takeCustom removes and returns the pending SetCustomMiningJob with
// request id id. Caller holds c.mu.
func (c *Client) takeCustom(id uint32) (pendingCustom, bool) {
	p, ok := c.customs[id]
	delete(c.customs, id)
	return p, ok
}

// onCustomSuccess activates the accepted custom job on its channel (the
// one the request named: a Success naming another is refused) and
// delivers its Work to the waiting caller and on Work(). An answer for
// no pending request is ignored.
func (c *Client) onCustomSuccess(m *codec.SetCustomMiningJobSuccess) {
	c.mu.Lock()
	p, ok := c.takeCustom(m.RequestID)
	if !ok {
		c.mu.Unlock()
		return
	}
	ch := c.channels[p.req.ChannelID]
	if ch == nil || m.ChannelID != p.req.ChannelID {
		c.mu.Unlock()
		p.reply <- customReply{err: fmt.Errorf("sv2 client: SetCustomMiningJob.Success for channel %d, asked for %d", m.ChannelID, p.req.ChannelID)}
		return
	}
	ch.storeJob(m.JobID, p.req)
	ch.active = m.JobID
	w := customWork(ch, m.JobID, p.req)
	c.mu.Unlock()
	p.reply <- customReply{work: w}
	c.emitWork(*w)
}

func (c *Client) onCustomError(m *codec.SetCustomMiningJobError) {
	c.mu.Lock()
	p, ok := c.takeCustom(m.RequestID)
	c.mu.Unlock()
	if ok {
		p.reply <- customReply{err: &CustomJobError{ChannelID: m.ChannelID, Code: m.ErrorCode}}
	}
}

// customWork builds the Work of custom job m, accepted as jobID on channel
// ch. Caller holds c.mu.
func customWork(ch *chanState, jobID uint32, m *codec.SetCustomMiningJob) *Work {
	prefix, suffix := CustomJobCoinbase(m, len(ch.ExtranoncePrefix)+ch.ExtranonceSize)
	return &Work{ChannelID: ch.ID, JobID: jobID, Extended: true, Custom: true,
		Version: m.Version, VersionRolling: true, PrevHash: m.PrevHash, NBits: m.NBits,
		MinNTime: m.MinNTime, Target: ch.target,
		CoinbasePrefix: prefix, CoinbaseSuffix: suffix, MerklePath: m.MerklePath,
		ExtranoncePrefix: ch.ExtranoncePrefix, ExtranonceSize: ch.ExtranonceSize}
}

// CustomJobCoinbase returns the non-witness coinbase of custom job m
// around its extranonce area of extranonceSize bytes (the channel's
// extranonce_prefix plus the miner's extranonce_size): prefix =
// coinbase_tx_version ‖ one input ‖ null outpoint ‖ scriptSig length ‖
// coinbase_prefix; suffix = nSequence ‖ coinbase_tx_outputs (already
// CompactSize-prefixed) ‖ locktime. This is the coinbase a pool accepting
// the job validates shares with; the extranonce is the scriptSig's last
// bytes.
func CustomJobCoinbase(m *codec.SetCustomMiningJob, extranonceSize int) (prefix, suffix []byte) {
	scriptLen := len(m.CoinbasePrefix) + extranonceSize
	prefix = make([]byte, 0, 4+1+36+3+len(m.CoinbasePrefix))
	prefix = binary.LittleEndian.AppendUint32(prefix, m.CoinbaseTxVersion)
	prefix = append(prefix, 1)
	prefix = append(prefix, make([]byte, 32)...)
	prefix = binary.LittleEndian.AppendUint32(prefix, 0xffffffff)
	if scriptLen < 0xfd {
		prefix = append(prefix, byte(scriptLen))
	} else {
		prefix = binary.LittleEndian.AppendUint16(append(prefix, 0xfd), uint16(scriptLen))
	}
	prefix = append(prefix, m.CoinbasePrefix...)
	suffix = make([]byte, 0, 8+len(m.CoinbaseTxOutputs))
	suffix = binary.LittleEndian.AppendUint32(suffix, m.CoinbaseTxInputNSequence)
	suffix = append(suffix, m.CoinbaseTxOutputs...)
	suffix = binary.LittleEndian.AppendUint32(suffix, m.CoinbaseTxLocktime)
	return prefix, suffix
}
