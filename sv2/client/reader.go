package client

import (
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/codec"
)

func (c *Client) readLoop() {
	var err error
	defer func() {
		c.mu.Lock()
		if err == nil {
			err = ErrClosed
		}
		c.err = err
		for id, r := range c.pending {
			r <- openReply{err: err}
			delete(c.pending, id)
		}
		for id, p := range c.customs {
			p.reply <- customReply{err: err}
			delete(c.customs, id)
		}
		c.mu.Unlock()
		close(c.done)
	}()
	for {
		var m codec.Message
		_, m, err = readMessage(c.conn)
		if err != nil {
			return
		}
		if r, ok := m.(*codec.Reconnect); ok {
			err = c.onReconnect(r)
			return
		}
		c.handle(m)
	}
}

// onReconnect records the pool's Reconnect and closes the connection: the
// pool is sending its miners elsewhere (or, with an empty host and port 0,
// away and back). It returns the *ReconnectError the connection ends with.
func (c *Client) onReconnect(r *codec.Reconnect) error {
	c.mu.Lock()
	c.reconnect = r
	c.mu.Unlock()
	c.conn.Close()
	return &ReconnectError{Host: r.NewHost, Port: r.NewPort}
}

func (c *Client) emitWork(w Work) {
	select {
	case c.work <- w:
	case <-c.done:
	}
}

func (c *Client) emitResult(r Result) {
	c.results <- r // buffered; the caller drains it
}

func (c *Client) handle(m codec.Message) {
	switch m := m.(type) {
	case *codec.OpenStandardMiningChannelSuccess:
		ch := &chanState{Channel: Channel{ID: m.ChannelID, GroupID: m.GroupChannelID,
			ExtranoncePrefix: m.ExtranoncePrefix, Target: share.TargetFromLE(m.Target)}}
		c.opened(m.RequestID, ch)
	case *codec.OpenExtendedMiningChannelSuccess:
		ch := &chanState{Channel: Channel{ID: m.ChannelID, GroupID: m.GroupChannelID, Extended: true,
			ExtranoncePrefix: m.ExtranoncePrefix, ExtranonceSize: int(m.ExtranonceSize), Target: share.TargetFromLE(m.Target)}}
		c.opened(m.RequestID, ch)
	case *codec.OpenMiningChannelError:
		c.mu.Lock()
		r := c.pending[m.RequestID]
		delete(c.pending, m.RequestID)
		c.mu.Unlock()
		if r != nil {
			r <- openReply{err: &SetupError{Msg: "channel refused", Code: m.ErrorCode}}
		}
	case *codec.NewMiningJob:
		c.onJob(m.ChannelID, m.JobID, m, m.MinNTime)
	case *codec.NewExtendedMiningJob:
		c.onJob(m.ChannelID, m.JobID, m, m.MinNTime)
	case *codec.SetNewPrevHash:
		c.onPrevHash(m)
	case *codec.SetTarget:
		c.mu.Lock()
		ch := c.channels[m.ChannelID]
		var w *Work
		if ch != nil {
			ch.target = share.TargetFromLE(m.MaximumTarget)
			w = c.workFor(ch, ch, ch.active)
		}
		c.mu.Unlock()
		if w != nil {
			c.emitWork(*w)
		}
	case *codec.SubmitSharesSuccess:
		c.emitResult(Result{ChannelID: m.ChannelID, Sequence: m.LastSequenceNumber,
			Accepted: m.NewSubmitsAcceptedCount, SharesSum: m.NewSharesSum, Acknowledged: true})
	case *codec.SubmitSharesError:
		c.emitResult(Result{ChannelID: m.ChannelID, Sequence: m.SequenceNumber, Code: m.ErrorCode})
	case *codec.SetCustomMiningJobSuccess:
		c.onCustomSuccess(m)
	case *codec.SetCustomMiningJobError:
		c.onCustomError(m)
	case *codec.CloseChannel:
		c.mu.Lock()
		delete(c.channels, m.ChannelID)
		c.mu.Unlock()
	}
}

// opened records a new channel and, unless its group_channel_id names no
// group (0, the channel itself or another open channel), makes it a member
// of that group: jobs and prev hashes sent to the group then apply to it.
// The SRI pool groups standard channels (without REQUIRES_STANDARD_JOBS)
// and extended channels alike, and after a channel's first job sends them
// work only through the group.
func (c *Client) opened(reqID uint32, ch *chanState) {
	ch.target = ch.Target
	ch.jobs = make(map[uint32]codec.Message)
	c.mu.Lock()
	c.channels[ch.ID] = ch
	if g := c.groupOf(ch); g != nil {
		g.members = append(g.members, ch.ID)
	}
	r := c.pending[reqID]
	delete(c.pending, reqID)
	c.mu.Unlock()
	if r != nil {
		pub := ch.Channel
		r <- openReply{ch: &pub}
	}
}

// groupOf returns ch's group channel, created on first use, or nil when
// ch belongs to none. Caller holds c.mu.
func (c *Client) groupOf(ch *chanState) *chanState {
	if ch.GroupID == 0 || ch.GroupID == ch.ID {
		return nil
	}
	g := c.channels[ch.GroupID]
	switch {
	case g == nil:
		g = &chanState{Channel: Channel{ID: ch.GroupID}, group: true, jobs: make(map[uint32]codec.Message)}
		c.channels[ch.GroupID] = g
	case !g.group:
		return nil
	}
	return g
}

// maxJobs bounds the jobs a channel keeps: a pool that never sends a new
// prev hash (which prunes them) cannot grow them without limit.
const maxJobs = 64

// storeJob keeps job m under id, dropping every older job once maxJobs
// are kept. Caller holds c.mu.
func (ch *chanState) storeJob(id uint32, m codec.Message) {
	if len(ch.jobs) >= maxJobs {
		clear(ch.jobs)
	}
	ch.jobs[id] = m
}

// onJob stores a job; a job with min_ntime is active at once.
func (c *Client) onJob(chID, jobID uint32, m codec.Message, minNTime *uint32) {
	c.mu.Lock()
	ch := c.channels[chID]
	if ch == nil {
		c.mu.Unlock()
		return
	}
	ch.storeJob(jobID, m)
	var works []Work
	if minNTime != nil && ch.prev != nil {
		ch.active = jobID
		p := *ch.prev
		p.MinNTime = *minNTime
		ch.prev = &p
		works = c.activate(ch)
	}
	c.mu.Unlock()
	for _, w := range works {
		c.emitWork(w)
	}
}

func (c *Client) onPrevHash(m *codec.SetNewPrevHash) {
	c.mu.Lock()
	ch := c.channels[m.ChannelID]
	if ch == nil {
		c.mu.Unlock()
		return
	}
	ch.prev = m
	ch.active = m.JobID
	works := c.activate(ch)
	// Jobs of older tips can no longer be activated.
	for id := range ch.jobs {
		if id != m.JobID {
			delete(ch.jobs, id)
		}
	}
	c.mu.Unlock()
	for _, w := range works {
		c.emitWork(w)
	}
}

// activate returns the Work for ch's active job: one per member for a
// group channel. Caller holds c.mu.
func (c *Client) activate(ch *chanState) []Work {
	if !ch.group {
		if w := c.workFor(ch, ch, ch.active); w != nil {
			return []Work{*w}
		}
		return nil
	}
	var out []Work
	for _, id := range ch.members {
		mem := c.channels[id]
		if mem == nil {
			continue
		}
		// A member follows the group from now on.
		mem.prev, mem.active = ch.prev, ch.active
		mem.storeJob(ch.active, ch.jobs[ch.active])
		if w := c.workFor(mem, ch, ch.active); w != nil {
			out = append(out, *w)
		}
	}
	return out
}

// workFor builds the Work of job jobID (stored on src, which is ch or its
// group) for channel ch. Caller holds c.mu.
func (c *Client) workFor(ch, src *chanState, jobID uint32) *Work {
	m := src.jobs[jobID]
	if m == nil {
		m = ch.jobs[jobID]
	}
	if cj, ok := m.(*codec.SetCustomMiningJob); ok {
		// A custom job carries its own prev hash, nbits and min_ntime.
		return customWork(ch, jobID, cj)
	}
	if ch.prev == nil {
		return nil
	}
	w := Work{ChannelID: ch.ID, JobID: jobID, PrevHash: ch.prev.PrevHash, NBits: ch.prev.NBits,
		MinNTime: ch.prev.MinNTime, Target: ch.target}
	switch j := m.(type) {
	case *codec.NewMiningJob:
		w.Version, w.VersionRolling, w.MerkleRoot = j.Version, true, j.MerkleRoot
	case *codec.NewExtendedMiningJob:
		w.Version, w.VersionRolling = j.Version, j.VersionRollingAllowed
		w.CoinbasePrefix, w.CoinbaseSuffix, w.MerklePath = j.CoinbaseTxPrefix, j.CoinbaseTxSuffix, j.MerklePath
		if ch.Extended {
			w.Extended = true
			w.ExtranoncePrefix, w.ExtranonceSize = ch.ExtranoncePrefix, ch.ExtranonceSize
		} else {
			// A group job for a standard channel: its full extranonce is
			// the channel's extranonce_prefix.
			ew := w
			ew.Extended, ew.ExtranoncePrefix = true, ch.ExtranoncePrefix
			w.MerkleRoot = ew.Root(nil)
			w.CoinbasePrefix, w.CoinbaseSuffix, w.MerklePath = nil, nil, nil
		}
	default:
		return nil
	}
	return &w
}
