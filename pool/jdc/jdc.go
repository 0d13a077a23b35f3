// Package jdc is a Job Declarator Client: it follows the miner's own node's
// block templates, declares each to the pool's Job Declaration Server and
// sets it as the custom job of an extended channel of the pool. The CPU
// miner's -jd mode runs it; a farm proxy can too. It is the client side of
// sv2/jd, on pool/node for the templates and sv2/jdclient and sv2/client
// for the wire.
package jdc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"go.uber.org/zap"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/sv2"
	sv2client "github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/jdclient"
	"github.com/adit-pool/adit/sv2/keys"
)

// Templates holds the own node's newest template; Watch keeps it current.
type Templates struct {
	mu   sync.Mutex
	tpl  *node.Template
	seq  uint64
	next chan struct{}
}

// NewTemplates returns an empty Templates.
func NewTemplates() *Templates { return &Templates{next: make(chan struct{})} }

// Set makes t the newest template.
func (l *Templates) Set(t *node.Template) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tpl = t
	l.seq++
	close(l.next)
	l.next = make(chan struct{})
}

// ErrGone is Wait's error when gone is closed.
var ErrGone = errors.New("jdc: the upstream connection ended")

// Wait returns the newest template and its sequence number once that is
// above seen, or after again (when > 0) whatever it is; ErrGone when gone
// is closed first, ctx's error when ctx ends.
func (l *Templates) Wait(ctx context.Context, gone <-chan struct{}, seen uint64, again time.Duration) (*node.Template, uint64, error) {
	var timeout <-chan time.Time
	if again > 0 {
		t := time.NewTimer(again)
		defer t.Stop()
		timeout = t.C
	}
	for {
		l.mu.Lock()
		t, seq, next := l.tpl, l.seq, l.next
		l.mu.Unlock()
		if seq > seen {
			return t, seq, nil
		}
		select {
		case <-next:
		case <-timeout:
			if t != nil {
				return t, seq, nil
			}
		case <-gone:
			return nil, 0, ErrGone
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
}

// LongPoll bounds one getblocktemplate longpoll: a node that never answers
// one is polled.
const LongPoll = 10 * time.Second

// Watch follows nc's templates (longpoll, bounded by LongPoll, then a
// plain poll) and sets each new one (a new tip or a new longpoll id) until
// ctx ends.
func (l *Templates) Watch(ctx context.Context, nc *node.Client, log *zap.Logger) {
	var lpid string
	var prev chainhash.Hash
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, LongPoll)
		t, err := nc.GetBlockTemplate(cctx, lpid)
		cancel()
		if err != nil && ctx.Err() == nil && lpid != "" {
			t, err = nc.GetBlockTemplate(ctx, "")
		}
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("own node: getblocktemplate failed", zap.Error(err))
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
			continue
		}
		if t.PrevHash != prev || t.LongPollID != lpid || lpid == "" {
			log.Debug("own node template", zap.Int64("height", t.Height), zap.Stringer("prev", t.PrevHash),
				zap.Int("txs", len(t.Transactions)), zap.String("longpollid", t.LongPollID))
			l.Set(t)
		}
		prev, lpid = t.PrevHash, t.LongPollID
	}
}

// Upstream is a pool that takes declared jobs: the JDS connection, and the
// mining connection with its extended channel (opened with
// REQUIRES_WORK_SELECTION).
type Upstream struct {
	JD      *jdclient.Conn
	Mining  *sv2client.Client
	Channel *sv2client.Channel
}

// Close closes both connections.
func (u *Upstream) Close() {
	u.JD.Close()
	u.Mining.Close()
}

// ExtranonceSize is the channel's whole extranonce: the pool's prefix and
// the rollable part. Declared coinbases leave exactly this much room.
func (u *Upstream) ExtranonceSize() int {
	return len(u.Channel.ExtranoncePrefix) + u.Channel.ExtranonceSize
}

// Declarer declares templates to an Upstream and sets them as its
// channel's custom jobs.
type Declarer struct {
	Up *Upstream
	// Policy: the coinbase tag and the transactions left out (with their
	// descendants; see jdclient.BuildConfig.Exclude).
	Tag     string
	Exclude func(tx *jdclient.TemplateTx) bool
	// Retry is how often a template refused with stale-chain-tip is
	// declared again while no newer one comes: the pool's node may be a
	// block behind the own node, which may not move for a while.
	Retry time.Duration
	// Refresh, when > 0, declares the current template again after this
	// long without a new one (a fresh custom job: a job takes at most
	// 2^20 shares, and a node with a quiet mempool may not change its
	// template for minutes).
	Refresh time.Duration
	// Result, when set, sees each outcome: "" for a job the pool took, or
	// the DeclareMiningJob or SetCustomMiningJob error code.
	Result func(code string)
	// OnJob, when set, is given each job the pool took: its Work on the
	// channel and the declared job (on Run's goroutine, before the next
	// template is declared).
	OnJob func(w *sv2client.Work, j *jdclient.Job)
	Log   *zap.Logger

	mu   sync.Mutex
	jobs map[uint32]*jdclient.Job // by custom job id, the newest maxJobs
}

// maxJobs bounds the declared jobs a Declarer remembers for Job.
const maxJobs = 64

// Job returns the declared job the pool set as customJobID, or nil.
func (d *Declarer) Job(customJobID uint32) *jdclient.Job {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.jobs[customJobID]
}

// Run declares every new template of tpls until ctx ends (nil) or the
// upstream fails: a token allocation, declaration or custom job error, or
// any refusal but stale-chain-tip (then the same template is declared
// again on the next template or after Retry). The error says which; a
// miner falls back on it.
func (d *Declarer) Run(ctx context.Context, tpls *Templates) error {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	var spare []*jdclient.Token
	token := func() (*jdclient.Token, error) {
		// Keep one spare: a new template needs no round trip first.
		for len(spare) < 2 {
			t, err := d.Up.JD.AllocateToken(ctx)
			if err != nil {
				return nil, err
			}
			spare = append(spare, t)
		}
		t := spare[0]
		spare = spare[1:]
		return t, nil
	}
	result := func(code string) {
		if d.Result != nil {
			d.Result(code)
		}
	}
	var seen uint64
	var again time.Duration // Retry after a stale refusal, else Refresh
	for {
		tpl, seq, err := tpls.Wait(ctx, d.Up.JD.Done(), seen, again)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		seen, again = seq, d.Refresh
		tok, err := token()
		if err != nil {
			return fmt.Errorf("AllocateMiningJobToken: %w", err)
		}
		j, err := jdclient.Build(tpl.Declarable(), tok.Outputs, jdclient.BuildConfig{Tag: d.Tag,
			ExtranonceSize: d.Up.ExtranonceSize(), Exclude: d.Exclude}, time.Now())
		if err != nil {
			return err
		}
		active, err := d.Up.JD.Declare(ctx, j, tok.Token)
		var de *jdclient.DeclareError
		switch {
		case errors.As(err, &de):
			result(de.Code)
			if de.Code == jdclient.CodeStaleChainTip {
				log.Info("declared job refused as stale: declaring again on the next template or after the retry pause",
					zap.Int64("height", j.Height), zap.ByteString("details", de.Details))
				again = d.Retry
				continue
			}
			return err
		case err != nil:
			return err
		}
		w, err := d.Up.Mining.SetCustomMiningJob(ctx, j.CustomJob(d.Up.Channel.ID, active))
		var ce *sv2client.CustomJobError
		switch {
		case errors.As(err, &ce):
			result(ce.Code)
			if ce.Code == jdclient.CodeStaleChainTip {
				again = d.Retry
				continue
			}
			return err
		case err != nil:
			return err
		}
		result("")
		d.mu.Lock()
		if d.jobs == nil || len(d.jobs) >= maxJobs {
			d.jobs = map[uint32]*jdclient.Job{}
		}
		d.jobs[w.JobID] = j
		d.mu.Unlock()
		if d.OnJob != nil {
			d.OnJob(w, j)
		}
		log.Debug("custom job set", zap.Int64("height", j.Height), zap.Uint32("job", w.JobID),
			zap.Int("txs", len(j.Txs)), zap.Int("excluded", len(j.Excluded)))
	}
}

// DialConfig is how to reach a pool with Job Declaration.
type DialConfig struct {
	// JDS and Pool are the Job Declaration Server's and the mining port's
	// addresses; both are Noise, with the pool's authority key.
	JDS, Pool          string
	Authority          *keys.PublicKey
	InsecureSkipVerify bool // tests only
	// User is the identity the pool credits (address.worker), sent as the
	// token's user_identifier and the channel's user.
	User string
	// Hashrate is the channel's nominal hash rate (H/s), from which the
	// pool picks the first target.
	Hashrate float32
	// Vendor names the client in SetupConnection.
	Vendor string
	// Timeout bounds each dial, handshake and the channel open (default
	// 10 s).
	Timeout time.Duration
}

// Dial connects to the JDS and the mining port (SetupConnection with
// REQUIRES_WORK_SELECTION) and opens the extended channel.
func Dial(ctx context.Context, cfg DialConfig) (*Upstream, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	client := sv2client.Config{Authority: cfg.Authority, InsecureSkipVerify: cfg.InsecureSkipVerify,
		Vendor: cfg.Vendor, Timeout: cfg.Timeout}
	jd, err := jdclient.Dial(ctx, cfg.JDS, jdclient.Config{Client: client, UserIdentifier: cfg.User})
	if err != nil {
		return nil, fmt.Errorf("jds: %w", err)
	}
	client.Flags = sv2.FlagRequiresWorkSelection | sv2.FlagRequiresVersionRolling
	c, err := sv2client.Dial(ctx, cfg.Pool, client)
	if err != nil {
		jd.Close()
		return nil, fmt.Errorf("pool: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ch, err := c.OpenExtended(octx, cfg.User, cfg.Hashrate, 0)
	if err != nil {
		jd.Close()
		c.Close()
		return nil, fmt.Errorf("pool: %w", err)
	}
	return &Upstream{JD: jd, Mining: c, Channel: ch}, nil
}
