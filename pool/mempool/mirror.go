// Package mempool mirrors the pool node's mempool for Job Declaration: every
// transaction's full (witness) serialization and fee, found by wtxid, as a
// declared job's wtxid list names them.
package mempool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Defaults and limits.
const (
	DefaultInterval       = time.Second
	DefaultMaxBytes       = 300 << 20
	DefaultBatchSize      = 200
	DefaultMaxFetch       = 10_000
	DefaultRefreshTimeout = 30 * time.Second

	// entryOverhead is the memory an entry costs beyond its serialization:
	// the struct and its slots in both maps, rounded up.
	entryOverhead = 256
)

// Source is the node interface the mirror uses; *node.Client implements it.
type Source interface {
	GetRawMempool(ctx context.Context) ([]chainhash.Hash, error)
	GetRawMempoolVerbose(ctx context.Context) ([]node.MempoolEntry, error)
	GetMempoolEntries(ctx context.Context, txids []chainhash.Hash) ([]node.MempoolEntry, []error, error)
	GetRawTransactionsVerbose(ctx context.Context, txids []chainhash.Hash) ([]node.RawTx, []error, error)
}

// Config configures a Mirror. The zero value takes every default.
type Config struct {
	// Interval is the time between refreshes. Default DefaultInterval.
	Interval time.Duration
	// MaxBytes bounds the mirror's memory (serializations plus a fixed
	// per-entry overhead). When it is reached the mirror stops adding
	// transactions (adit_jd_mirror_full_total counts the refreshes that
	// left some out) until the mempool shrinks or a new tip prunes it.
	// Default DefaultMaxBytes.
	MaxBytes int64
	// BatchSize is the number of calls per JSON-RPC batch request. Default
	// DefaultBatchSize, at most node.MaxBatch.
	BatchSize int
	// MaxFetch bounds the transactions fetched per refresh, so a cold start
	// on a large mempool is spread over several refreshes. Default
	// DefaultMaxFetch.
	MaxFetch int
	// RefreshTimeout bounds one refresh. Default DefaultRefreshTimeout.
	RefreshTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Validate checks the configuration (zero values mean defaults).
func (c Config) Validate() error {
	switch {
	case c.Interval < 0:
		return fmt.Errorf("mempool: interval %v is negative", c.Interval)
	case c.MaxBytes < 0:
		return fmt.Errorf("mempool: max_bytes %d is negative", c.MaxBytes)
	case c.BatchSize < 0 || c.BatchSize > node.MaxBatch:
		return fmt.Errorf("mempool: batch_size %d outside 0..%d", c.BatchSize, node.MaxBatch)
	case c.MaxFetch < 0:
		return fmt.Errorf("mempool: max_fetch %d is negative", c.MaxFetch)
	case c.RefreshTimeout < 0:
		return fmt.Errorf("mempool: refresh_timeout %v is negative", c.RefreshTimeout)
	}
	return nil
}

func (c *Config) withDefaults() {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxFetch == 0 {
		c.MaxFetch = DefaultMaxFetch
	}
	if c.RefreshTimeout == 0 {
		c.RefreshTimeout = DefaultRefreshTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Metrics are the mirror's metrics.
type Metrics struct {
	txs     prometheus.Gauge
	bytes   prometheus.Gauge
	refresh prometheus.Histogram
	full    prometheus.Counter
	errors  prometheus.Counter
}

// NewMetrics creates and registers the mirror metrics on reg (nil: not
// registered). Call it once per registry.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		txs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_jd_mirror_txs", Help: "Transactions in the Job Declaration mempool mirror.",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "adit_jd_mirror_bytes", Help: "Memory the mempool mirror accounts for (serializations plus per-entry overhead).",
		}),
		refresh: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "adit_jd_mirror_refresh_seconds",
			Help:    "Duration of a mempool mirror refresh (listing, fetches and update).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		full: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_jd_mirror_full_total", Help: "Refreshes and AddTxs calls that left transactions out because the mirror was at max_bytes.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "adit_jd_mirror_refresh_errors_total", Help: "Mempool mirror refreshes that failed (node unreachable or a bad reply).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.txs, m.bytes, m.refresh, m.full, m.errors)
	}
	return m
}

// entry is one mirrored transaction. Its fields other than seen and fee are
// immutable once it is in the maps.
type entry struct {
	txid, wtxid chainhash.Hash
	raw         []byte
	fee         int64 // satoshis, -1 unknown; written under mu
	// pinGen, when equal to Mirror.gen, keeps the entry (AddTxs) whatever
	// the node's mempool holds; 0 for the node's transactions.
	pinGen uint64
	// seen is the last refresh epoch whose listing named the entry's txid;
	// only the refreshing goroutine (under refreshMu) reads or writes it.
	seen uint64
}

// Mirror is a wtxid-indexed copy of a node's mempool plus the transactions
// given to AddTxs. Refresh (and Run, which calls it) keeps it in step with
// the node: each refresh lists the mempool, fetches only transactions it
// has not seen (bounded per refresh, in JSON-RPC batches) and drops the ones
// the node no longer has. Transactions given to AddTxs are kept until the
// next tip (NewTip). Lookups never call the node.
//
// With Bitcoin Core a refresh is getrawmempool (txids), getmempoolentry for
// new txids (fee and wtxid: a wtxid the mirror already holds is not
// fetched), then getrawtransaction for the rest. btcd lacks
// getmempoolentry, so against it a refresh lists with the verbose
// getrawmempool (txids and fees) and fetches every new txid with
// getrawtransaction (whose "hash" is the wtxid). The first refresh probes
// which of the two the node is. Every fetched transaction is decoded and its
// txid and wtxid recomputed: a disagreement with the node drops it.
//
// Mirror is safe for concurrent use. Lookups take mu for reading; a refresh
// takes refreshMu for its whole length (RPCs included) and mu only to read
// a snapshot and to apply its result. Lock order: refreshMu, then mu.
type Mirror struct {
	cfg Config
	src Source
	log *zap.Logger
	m   *Metrics

	tipSignal chan struct{}
	running   atomic.Bool

	refreshMu sync.Mutex
	epoch     uint64 // refresh counter, under refreshMu
	// entriesOK: 0 not probed, 1 getmempoolentry works (Core), -1 not (btcd).
	entriesOK int
	// fullAt is the byte count at which a refresh last ran out of room (0:
	// none): while the mirror holds at least that much, refreshes fetch
	// nothing new. Under refreshMu.
	fullAt int64

	mu      sync.RWMutex
	byTxid  map[chainhash.Hash]*entry // the node's version of each txid, or a pinned one
	byWtxid map[chainhash.Hash]*entry // every entry
	bytes   int64
	gen     uint64         // tip generation, bumped by NewTip
	tip     chainhash.Hash // the tip NewTip last named
}

// New returns a Mirror over src. log and m may be nil.
func New(cfg Config, src Source, log *zap.Logger, m *Metrics) (*Mirror, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("mempool: nil source")
	}
	cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	return &Mirror{
		cfg: cfg, src: src, log: log, m: m,
		tipSignal: make(chan struct{}, 1),
		byTxid:    make(map[chainhash.Hash]*entry),
		byWtxid:   make(map[chainhash.Hash]*entry),
		gen:       1, // pinGen 0 means not pinned
	}, nil
}

// Run refreshes the mirror at once, then every Interval and right after
// each NewTip, until ctx is cancelled; then it returns nil. Refresh
// failures are logged and counted, never returned. Run may be called once.
func (m *Mirror) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("mempool: Mirror.Run called twice")
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-m.tipSignal:
			timer.Stop()
		}
		rctx, cancel := context.WithTimeout(ctx, m.cfg.RefreshTimeout)
		err := m.Refresh(rctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			m.log.Warn("mempool mirror refresh failed", zap.Error(err))
		}
		timer.Reset(m.cfg.Interval)
	}
}

// NewTip tells the mirror that the node has a new best block, prev (the
// hash the next block builds on). Transactions pinned by AddTxs are
// released at once and Run refreshes immediately, which drops the mined
// ones. Naming the current tip again is a no-op. It never blocks.
func (m *Mirror) NewTip(prev [32]byte) {
	m.mu.Lock()
	changed := m.tip != chainhash.Hash(prev)
	if changed {
		m.tip = prev
		m.gen++
	}
	m.mu.Unlock()
	if changed {
		select {
		case m.tipSignal <- struct{}{}:
		default:
		}
	}
}

// LookupTxs returns, for each wtxid (internal byte order), the transaction's
// full serialization and its fee in satoshis; nil and -1 for a wtxid the
// mirror lacks, and a fee of -1 when it is unknown (a transaction from
// AddTxs that the node's mempool does not hold). The returned slices are
// shared with the mirror: callers must not modify them. It never calls the
// node.
func (m *Mirror) LookupTxs(wtxids [][32]byte) (txs [][]byte, fees []int64) {
	txs = make([][]byte, len(wtxids))
	fees = make([]int64, len(wtxids))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, w := range wtxids {
		if e := m.byWtxid[w]; e != nil {
			txs[i], fees[i] = e.raw, e.fee
		} else {
			fees[i] = -1
		}
	}
	return txs, fees
}

// AddTxs adds full transaction serializations (a miner's, for a declaration
// the pool accepted) and keeps them findable by wtxid until the next NewTip,
// whatever the node's mempool holds. Undecodable transactions are skipped
// and so, when the mirror is at MaxBytes, are the rest. It returns how many
// it added or already had.
func (m *Mirror) AddTxs(txs [][]byte) int {
	decoded := make([]*entry, 0, len(txs))
	for _, raw := range txs {
		txid, wtxid, err := hashes(raw)
		if err != nil {
			m.log.Debug("AddTxs: undecodable transaction", zap.Error(err))
			continue
		}
		decoded = append(decoded, &entry{txid: txid, wtxid: wtxid, raw: bytes.Clone(raw), fee: -1})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, full := 0, false
	for _, e := range decoded {
		if old := m.byWtxid[e.wtxid]; old != nil {
			old.pinGen = m.gen
			n++
			continue
		}
		if !m.insertLocked(e, false) {
			full = true
			break
		}
		e.pinGen = m.gen
		n++
	}
	if full {
		m.m.full.Inc()
	}
	m.gaugesLocked()
	return n
}

// Len returns the number of mirrored transactions.
func (m *Mirror) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byWtxid)
}

// Bytes returns the memory the mirror accounts for.
func (m *Mirror) Bytes() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bytes
}

// insertLocked adds e to both maps unless that would pass MaxBytes. When
// the txid is already there with another witness, byTxid keeps the old
// entry unless replaceTxid (the node's version replaces a pinned one, which
// stays findable by its wtxid).
func (m *Mirror) insertLocked(e *entry, replaceTxid bool) bool {
	size := int64(len(e.raw)) + entryOverhead
	if m.bytes+size > m.cfg.MaxBytes {
		return false
	}
	m.bytes += size
	m.byWtxid[e.wtxid] = e
	if replaceTxid || m.byTxid[e.txid] == nil {
		m.byTxid[e.txid] = e
	}
	return true
}

func (m *Mirror) deleteLocked(e *entry) {
	delete(m.byWtxid, e.wtxid)
	if m.byTxid[e.txid] == e {
		delete(m.byTxid, e.txid)
	}
	m.bytes -= int64(len(e.raw)) + entryOverhead
}

func (m *Mirror) gaugesLocked() {
	m.m.txs.Set(float64(len(m.byWtxid)))
	m.m.bytes.Set(float64(m.bytes))
}

// listed is one txid of the node's listing, with what the listing said.
type listed struct {
	node.MempoolEntry
	known bool // set: info carries fee and wtxid
}

// Refresh brings the mirror in step with the node once: see Mirror. At
// most MaxFetch new transactions are fetched; the rest wait for the next
// refresh. An error leaves the mirror as it was, apart from the
// transactions already applied.
func (m *Mirror) Refresh(ctx context.Context) (err error) {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	start := m.cfg.Now()
	defer func() {
		m.m.refresh.Observe(m.cfg.Now().Sub(start).Seconds())
		if err != nil {
			m.m.errors.Inc()
		}
	}()
	if m.entriesOK == 0 {
		if err := m.probe(ctx); err != nil {
			return err
		}
	}
	m.epoch++
	var list []listed
	if m.entriesOK > 0 {
		txids, err := m.src.GetRawMempool(ctx)
		if err != nil {
			return err
		}
		list = make([]listed, len(txids))
		for i, h := range txids {
			list[i].TxID = h
		}
	} else {
		es, err := m.src.GetRawMempoolVerbose(ctx)
		if err != nil {
			return err
		}
		list = make([]listed, len(es))
		for i := range es {
			list[i] = listed{MempoolEntry: es[i], known: true}
		}
	}

	// Mark what the mirror has; collect what it lacks, and fees it can
	// fill in for pinned entries the node also holds.
	var fresh []listed
	var feeFill []feeUpdate
	m.mu.RLock()
	for i := range list {
		l := &list[i]
		if e := m.byTxid[l.TxID]; e != nil {
			e.seen = m.epoch
			switch {
			case e.fee >= 0:
			case l.known && l.Fee >= 0:
				feeFill = append(feeFill, feeUpdate{e, l.Fee})
			case !l.known && len(fresh) < m.cfg.MaxFetch:
				// A pinned transaction the node holds too: getmempoolentry
				// gives its fee (and fetches the node's version if the
				// witness differs).
				fresh = append(fresh, *l)
			}
			continue
		}
		if len(fresh) < m.cfg.MaxFetch {
			fresh = append(fresh, *l)
		}
	}
	atCapacity := m.fullAt > 0 && m.bytes >= m.fullAt
	m.mu.RUnlock()

	var added []*entry
	if len(fresh) > 0 && !atCapacity {
		added, err = m.fetch(ctx, fresh)
	}

	m.mu.Lock()
	for _, f := range feeFill {
		f.e.fee = f.fee
	}
	full := atCapacity && len(fresh) > 0
	for _, e := range added {
		e.seen = m.epoch
		if old := m.byWtxid[e.wtxid]; old != nil {
			// Known by wtxid (Core told us, or a pinned copy): link it.
			old.seen = m.epoch
			if old.fee < 0 {
				old.fee = e.fee
			}
			m.byTxid[e.txid] = old
			continue
		}
		if e.raw == nil {
			continue
		}
		if !m.insertLocked(e, true) {
			full = true
			break
		}
	}
	for _, e := range m.byWtxid {
		if e.seen != m.epoch && e.pinGen != m.gen {
			m.deleteLocked(e)
		}
	}
	if full && !atCapacity {
		m.fullAt = m.bytes
	}
	m.gaugesLocked()
	m.mu.Unlock()
	if full {
		m.m.full.Inc()
	}
	return err
}

type feeUpdate struct {
	e   *entry
	fee int64
}

// probe finds out whether the node has getmempoolentry (Core answers "not
// in mempool" for the zero txid; btcd "Command unimplemented").
func (m *Mirror) probe(ctx context.Context) error {
	_, errs, err := m.src.GetMempoolEntries(ctx, []chainhash.Hash{{}})
	if err != nil {
		return fmt.Errorf("mempool: probe getmempoolentry: %w", err)
	}
	var re *node.RPCError
	if errs[0] == nil || (errors.As(errs[0], &re) && re.Code == node.CodeNotFound) {
		m.entriesOK = 1
	} else {
		m.entriesOK = -1
	}
	m.log.Info("mempool mirror listing mode", zap.Bool("getmempoolentry", m.entriesOK > 0), zap.NamedError("probe", errs[0]))
	return nil
}

// fetch resolves fresh listing entries into decoded, checked entries. With
// Core it first asks getmempoolentry for fees and wtxids, and skips the
// transactions whose wtxid the mirror already holds (they come back as
// entries without raw, to be linked). A transaction that left the mempool
// in between is skipped. The first whole-batch failure stops it: what it
// has is returned with the error.
func (m *Mirror) fetch(ctx context.Context, fresh []listed) ([]*entry, error) {
	var out []*entry
	for start := 0; start < len(fresh); start += m.cfg.BatchSize {
		batch := fresh[start:min(start+m.cfg.BatchSize, len(fresh))]
		if m.entriesOK > 0 {
			ids := make([]chainhash.Hash, len(batch))
			for i := range batch {
				ids[i] = batch[i].TxID
			}
			es, errs, err := m.src.GetMempoolEntries(ctx, ids)
			if err != nil {
				return out, err
			}
			kept := batch[:0:0]
			m.mu.RLock()
			for i := range batch {
				if errs[i] != nil {
					continue // gone, or a bad reply: the next refresh retries
				}
				l := listed{MempoolEntry: es[i], known: true}
				if old := m.byWtxid[l.WTxID]; l.HasWTxID() && old != nil {
					out = append(out, &entry{txid: l.TxID, wtxid: old.wtxid, fee: l.Fee})
					continue
				}
				kept = append(kept, l)
			}
			m.mu.RUnlock()
			batch = kept
		}
		if len(batch) == 0 {
			continue
		}
		ids := make([]chainhash.Hash, len(batch))
		for i := range batch {
			ids[i] = batch[i].TxID
		}
		raws, errs, err := m.src.GetRawTransactionsVerbose(ctx, ids)
		if err != nil {
			return out, err
		}
		for i, l := range batch {
			if errs[i] != nil {
				continue
			}
			e, err := check(&l.MempoolEntry, &raws[i])
			if err != nil {
				m.log.Warn("mempool mirror: node's transaction fails its own hashes", zap.Stringer("txid", l.TxID), zap.Error(err))
				continue
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// check decodes r, recomputes its txid and wtxid and compares them with the
// listing's and the node's.
func check(l *node.MempoolEntry, r *node.RawTx) (*entry, error) {
	txid, wtxid, err := hashes(r.Data)
	if err != nil {
		return nil, err
	}
	switch {
	case txid != l.TxID:
		return nil, fmt.Errorf("txid %s", txid)
	case wtxid != r.WTxID:
		return nil, fmt.Errorf("wtxid %s, node says %s", wtxid, r.WTxID)
	case l.HasWTxID() && wtxid != l.WTxID:
		return nil, fmt.Errorf("wtxid %s, mempool entry says %s", wtxid, l.WTxID)
	}
	return &entry{txid: txid, wtxid: wtxid, raw: r.Data, fee: l.Fee}, nil
}

// hashes decodes a full transaction serialization (no trailing bytes) and
// returns its txid and wtxid.
func hashes(raw []byte) (txid, wtxid chainhash.Hash, err error) {
	var tx wire.MsgTx
	rd := bytes.NewReader(raw)
	if err := tx.Deserialize(rd); err != nil {
		return txid, wtxid, fmt.Errorf("mempool: decode transaction: %w", err)
	}
	if rd.Len() != 0 {
		return txid, wtxid, fmt.Errorf("mempool: %d bytes after the transaction", rd.Len())
	}
	if len(tx.TxIn) == 0 {
		// A zero-input "transaction" reads as a witness marker elsewhere.
		return txid, wtxid, errors.New("mempool: transaction without inputs")
	}
	return tx.TxHash(), tx.WitnessHash(), nil
}
