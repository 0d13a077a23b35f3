package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/adit-pool/adit/share"
	sv2client "github.com/adit-pool/adit/sv2/client"
	"github.com/adit-pool/adit/sv2/keys"
)

// v2Config makes a miner speak Stratum V2.
type v2Config struct {
	// Addr is the pool's SV2 (Noise) address.
	Addr string
	// Authority is the pool's authority public key; the pool's certificate
	// must be signed by it unless InsecureSkipVerify.
	Authority          *keys.PublicKey
	InsecureSkipVerify bool
	// Extended opens an extended channel (the miner builds the coinbase
	// with its own extranonce); otherwise a standard channel (header-only
	// mining on the pool's merkle root).
	Extended bool
	// VersionMask is the header version bits the miner rolls (the BIP320
	// 0x1fffe000 by default; every SV2 pool accepts it).
	VersionMask uint32
	// NominalHashRate (H/s) is declared when opening the channel unless a
	// suggested difficulty sets it; runFleet measures it when zero. The
	// SRI pool derives the first target from it alone: 0 would make every
	// hash a share until its vardiff catches up.
	NominalHashRate float32
}

// hashrateProbe is how long measureHashrate hashes.
const hashrateProbe = 100 * time.Millisecond

// measureHashrate returns the hashes per second one thread achieves on
// the share hashing path, hashing for about d.
func measureHashrate(d time.Duration) float64 {
	var h share.Header
	var n uint64
	start := time.Now()
	for time.Since(start) < d {
		for i := 0; i < 1024; i++ {
			h[76], h[77] = byte(n), byte(n>>8)
			share.DoubleSHA256(h[:])
			n++
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// defaultV2VersionMask is BIP320's mask, inside the SV2 server's default.
const defaultV2VersionMask = 0x1fffe000

// sv2SharesPerMinute is the SV2 server's default share rate per channel,
// used to turn a suggested difficulty into a nominal hash rate.
const sv2SharesPerMinute = 6

// v2Job is an SV2 Work on the miner's channel.
type v2Job struct {
	w       *sv2client.Work
	n       uint64
	isClean bool
	mask    uint32
	diff    float64
}

func (j *v2Job) id() string            { return strconv.FormatUint(uint64(j.w.JobID), 10) }
func (j *v2Job) seq() uint64           { return j.n }
func (j *v2Job) clean() bool           { return j.isClean }
func (j *v2Job) target() *share.Target { return &j.w.Target }
func (j *v2Job) difficulty() float64   { return j.diff }
func (j *v2Job) ntime() uint32         { return j.w.MinNTime }
func (j *v2Job) versionMask() uint32   { return j.mask }

func (j *v2Job) extranonceSize() int {
	if j.w.Extended {
		return j.w.ExtranonceSize
	}
	return 0
}

func (j *v2Job) rolledVersion(bits uint32) uint32 {
	return (j.w.Version &^ j.mask) | (bits & j.mask)
}

// header builds the header: a standard channel's merkle root is the
// pool's; an extended channel's coinbase is prefix ‖ extranonce_prefix ‖
// en ‖ suffix, as a V1 coinbase is coinb1 ‖ extranonce1 ‖ extranonce2 ‖
// coinb2.
func (j *v2Job) header(h *share.Header, scratch, en []byte, ntime uint32) []byte {
	w := j.w
	root := w.MerkleRoot
	if w.Extended {
		scratch = append(append(append(append(scratch[:0], w.CoinbasePrefix...), w.ExtranoncePrefix...), en...), w.CoinbaseSuffix...)
		root = share.MerkleRoot(share.DoubleSHA256(scratch), w.MerklePath)
	}
	share.PutHeader(h, w.Version, &w.PrevHash, &root, ntime, w.NBits, 0)
	return scratch
}

// sentShare is a submitted share awaiting the pool's answer.
type sentShare struct {
	at time.Time
}

// sessionV2 runs one SV2 connection: dial with the Noise handshake, open
// one channel, then hash and submit until the connection or ctx ends. The
// pool acknowledges accepted shares in batches (SubmitShares.Success up to
// a sequence number) and rejects each at once (SubmitShares.Error); at the
// end the miner stops submitting and waits for the answers still due
// (bounded by the timeout), so its counts match what the pool recorded.
// It dials m.v2Addr; when the pool sent Reconnect it returns the
// *sv2client.ReconnectError naming the next address.
func (m *miner) sessionV2(ctx context.Context) error {
	timeout := m.cfg.Client.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	c, ch, err := m.dialV2(ctx, timeout)
	if err != nil {
		// A Reconnect while the channel opens is a redirect (run follows
		// it), not a failure to reach the pool.
		var re *sv2client.ReconnectError
		if !errors.As(err, &re) {
			m.rec.dialFailed()
		}
		return err
	}
	return m.mineV2(ctx, c, ch, v2Hooks{})
}

// v2Hooks adapt mineV2 to Job Declaration (jdminer.go); the zero value is
// plain pool mining.
type v2Hooks struct {
	// accept, when set, filters the Work the dispatcher publishes.
	accept func(w *sv2client.Work) bool
	// run, when set, runs beside the session; its error ends it.
	run func(ctx context.Context) error
	// found, when set, sees each share once it is submitted upstream (so
	// the pool has a block's share before the block reaches any node).
	found func(j *v2Job, f found)
}

// mineV2 mines on channel ch of c until the connection or ctx ends, then
// closes c (see sessionV2).
func (m *miner) mineV2(ctx context.Context, c *sv2client.Client, ch *sv2client.Channel, hooks v2Hooks) error {
	v2 := m.cfg.V2
	user := m.cfg.Client.Username
	timeout := m.cfg.Client.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	m.drainShares()
	m.v2Connected = true
	m.rec.connected(1)
	defer m.rec.connected(-1)
	m.cfg.Log.Debug("connected", zap.String("pool", m.v2Addr), zap.String("protocol", "v2"),
		zap.Bool("extended", ch.Extended), zap.Uint32("channel", ch.ID), zap.Int("extranonce_size", ch.ExtranonceSize))
	m.box.Store(&workBox{next: make(chan struct{})})
	m.clean.Store(0)
	mask := v2.VersionMask
	if mask == 0 {
		mask = defaultV2VersionMask
	}

	var (
		mu       sync.Mutex
		pending  = map[uint32]sentShare{}
		resolved = make(chan struct{}, 1) // signalled when pending shrinks
	)
	resolve := func(seq uint32, o outcome) {
		// Caller holds mu.
		s, ok := pending[seq]
		if !ok {
			return
		}
		delete(pending, seq)
		o.latency = time.Since(s.at)
		m.rec.record("v2", user, o)
	}

	g, gctx := errgroup.WithContext(ctx)
	submitDone := make(chan struct{})
	// Closer: once the session ends, wait for the submitter, then for the
	// answers still due, then close the connection.
	g.Go(func() error {
		<-gctx.Done()
		<-submitDone
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		for {
			mu.Lock()
			n := len(pending)
			mu.Unlock()
			if n == 0 {
				break
			}
			select {
			case <-resolved:
				continue
			case <-c.Done():
			case <-deadline.C:
			}
			break
		}
		c.Close()
		mu.Lock()
		for seq := range pending {
			resolve(seq, outcome{ioError: true})
		}
		mu.Unlock()
		return nil
	})
	// Dispatcher: SV2 Work becomes the current job; a new prev hash makes
	// it clean.
	g.Go(func() error {
		var n uint64
		var prev [32]byte
		for {
			select {
			case w := <-c.Work():
				if w.ChannelID != ch.ID || (hooks.accept != nil && !hooks.accept(&w)) {
					continue
				}
				n++
				j := &v2Job{w: &w, n: n, isClean: n == 1 || w.PrevHash != prev, diff: w.Target.Difficulty()}
				if w.VersionRolling {
					j.mask = mask
				}
				prev = w.PrevHash
				m.publish(j)
			case <-c.Done():
				return fmt.Errorf("sv2 connection ended: %w", c.Err())
			case <-gctx.Done():
				return nil
			}
		}
	})
	// Results: match the pool's answers to the shares sent.
	g.Go(func() error {
		for {
			select {
			case r := <-c.Results():
				mu.Lock()
				if r.Acknowledged {
					var n uint32
					for seq := range pending {
						if seq <= r.Sequence {
							resolve(seq, outcome{ok: true})
							n++
						}
					}
					if n != r.Accepted {
						m.cfg.Log.Debug("acknowledgement count differs", zap.Uint32("pool", r.Accepted), zap.Uint32("matched", n))
					}
				} else {
					resolve(r.Sequence, outcome{code: r.Code, message: r.Code})
					m.cfg.Log.Info("share rejected", zap.Uint32("sequence", r.Sequence), zap.String("code", r.Code))
				}
				mu.Unlock()
				select {
				case resolved <- struct{}{}:
				default:
				}
			case <-c.Done():
				return nil
			}
		}
	})
	if hooks.run != nil {
		g.Go(func() error { return hooks.run(gctx) })
	}
	for i := range m.cfg.Threads {
		g.Go(func() error { m.hashLoop(gctx, i); return nil })
	}
	// Submitter: one goroutine suffices, a submission is one frame write.
	g.Go(func() error {
		defer close(submitDone)
		for {
			f, ok := m.nextShare(gctx)
			if !ok {
				return nil
			}
			j := f.work.(*v2Job)
			mu.Lock()
			seq, err := c.Submit(j.w, f.en2, f.ntime, f.nonce, j.rolledVersion(f.versionBits))
			if err != nil {
				mu.Unlock()
				m.rec.record("v2", user, outcome{ioError: true})
				return fmt.Errorf("sv2 submit: %w", err)
			}
			pending[seq] = sentShare{at: time.Now()}
			mu.Unlock()
			if hooks.found != nil {
				hooks.found(j, f)
			}
		}
	})
	err := g.Wait()
	// A Reconnect ends the connection; report it whichever goroutine saw
	// the end first (a submit may fail on the closed socket).
	var re *sv2client.ReconnectError
	if errors.As(c.Err(), &re) {
		return re
	}
	if err == nil {
		err = errors.New("session stopped")
	}
	return err
}

// v2Hashrate is the nominal hash rate a channel is opened with: a
// suggested difficulty becomes the rate that makes the pool pick it (its
// vardiff still clamps it).
func (m *miner) v2Hashrate() float32 {
	if d := m.cfg.Client.SuggestDifficulty; d > 0 {
		return float32(d * (1 << 32) * sv2SharesPerMinute / 60)
	}
	return m.cfg.V2.NominalHashRate
}

// dialV2 dials under the fleet's handshake limit and opens the channel.
func (m *miner) dialV2(ctx context.Context, timeout time.Duration) (*sv2client.Client, *sv2client.Channel, error) {
	if m.cfg.DialSem != nil {
		select {
		case m.cfg.DialSem <- struct{}{}:
			defer func() { <-m.cfg.DialSem }()
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	v2 := m.cfg.V2
	c, err := sv2client.Dial(ctx, m.v2Addr, sv2client.Config{
		Authority: v2.Authority, InsecureSkipVerify: v2.InsecureSkipVerify,
		Vendor: "adit-miner", Timeout: timeout,
	})
	if err != nil {
		return nil, nil, err
	}
	hashrate := m.v2Hashrate()
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var ch *sv2client.Channel
	if v2.Extended {
		ch, err = c.OpenExtended(octx, m.cfg.Client.Username, hashrate, 0)
	} else {
		ch, err = c.OpenStandard(octx, m.cfg.Client.Username, hashrate)
	}
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, ch, nil
}

// protoCounts are one protocol's outcomes.
type protoCounts struct {
	accepted, rejected, ioErrors uint64
	latencies                    []time.Duration
}

// protoSummary is one protocol's part of the summary.
type protoSummary struct {
	Accepted        uint64  `json:"accepted"`
	Rejected        uint64  `json:"rejected"`
	IOErrors        uint64  `json:"submit_io_errors"`
	SharesPerSecond float64 `json:"accepted_per_second"`
	LatencyP50Ms    float64 `json:"latency_p50_ms"`
	LatencyP99Ms    float64 `json:"latency_p99_ms"`
	LatencyMaxMs    float64 `json:"latency_max_ms"`
}

func (c *protoCounts) summary(elapsed time.Duration) protoSummary {
	s := protoSummary{Accepted: c.accepted, Rejected: c.rejected, IOErrors: c.ioErrors}
	if sec := elapsed.Seconds(); sec > 0 {
		s.SharesPerSecond = float64(c.accepted) / sec
	}
	s.LatencyP50Ms, s.LatencyP99Ms, s.LatencyMaxMs = percentiles(c.latencies)
	return s
}

// writeProtocols prints the per-protocol lines when the run used SV2.
func (s *summary) writeProtocols(w io.Writer) {
	if _, ok := s.ByProtocol["v2"]; !ok {
		return
	}
	ps := make([]string, 0, len(s.ByProtocol))
	for p := range s.ByProtocol {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	for _, p := range ps {
		x := s.ByProtocol[p]
		fmt.Fprintf(w, "%s: accepted %d (%.2f shares/s), rejected %d, I/O errors %d, latency p50 %.3f ms, p99 %.3f ms\n",
			p, x.Accepted, x.SharesPerSecond, x.Rejected, x.IOErrors, x.LatencyP50Ms, x.LatencyP99Ms)
	}
}
