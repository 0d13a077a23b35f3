package sharelog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/adit-pool/adit/share"
)

// Errors returned by Open and Append.
var (
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("sharelog: closed")
	// ErrDiskFull: the log's filesystem is full (see DiskFullReject). The
	// share was not logged and must not be acknowledged.
	ErrDiskFull = errors.New("sharelog: disk full, share rejected")
	// ErrFailed: an fsync or repair failed, so what is on disk is unknown;
	// the log refuses every further append until it is reopened.
	ErrFailed = errors.New("sharelog: log failed")
	// ErrLocked: another process has the log directory open.
	ErrLocked = errors.New("sharelog: log directory is locked by another process")
	// ErrInstanceMismatch: a record names another instance than the log's.
	ErrInstanceMismatch = errors.New("sharelog: record instance differs from the log's")
)

// Log is the local, append-only, durable share log of one instance: numbered
// segment files of framed, checksummed records (see codec.go, segment.go).
//
// Concurrency contract: Append, Durable, Notify, NewReader, MarkShipped,
// Stats and Close are safe for concurrent use. One writer goroutine owns the
// open segment file, the next id and the write position; appenders hand it
// records through the pending batch. Records get ids in the order they
// enter the pending batch, which is also their order in the log.
//
// Locks: mu guards the pending batch and the closed/failed state; stateMu
// guards what readers and the shipper see (durable and shipped positions,
// the notify channel). The two are never held at the same time, so there is
// no lock order to get wrong. No lock is held during file I/O except the
// directory flock, which lives as long as the Log.
type Log struct {
	dir string
	cfg Config
	log *zap.Logger
	m   *Metrics

	lockFile *os.File
	logID    [16]byte

	mu         sync.Mutex
	cur        *batch        // being filled by appenders
	spare      *batch        // recycled by the writer
	spaceFreed chan struct{} // closed when the writer takes cur
	closed     bool
	failed     error // sticky ErrFailed-wrapping error

	wake chan struct{} // cap 1: "cur is not empty" or "closing"

	// Owned by the writer goroutine (and by Open before it starts).
	f        *os.File
	seg      uint64
	off      int64
	nextID   uint64
	lastSync time.Time
	freeAt   time.Time // when free space was last checked
	free     int64     // free bytes at freeAt
	diskFull bool      // in a disk-full episode (for log lines)

	stateMu   sync.Mutex
	durable   Position
	durableID uint64 // id of the last durable record (0: none)
	shipped   Position
	shippedID uint64
	hasShip   bool
	notify    chan struct{}
	first     uint64 // oldest segment still on disk

	quit      chan struct{} // closed by Close: stops the janitor
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// batch is a group of framed records on its way to disk.
type batch struct {
	buf  []byte
	ends []int // end offset in buf of each frame
	res  *batchResult
}

// batchResult is what the appenders of one batch wait on. The writer sets
// firstID/err and then closes done.
type batchResult struct {
	done    chan struct{}
	firstID uint64
	err     error
}

func newBatch() *batch { return &batch{res: &batchResult{done: make(chan struct{})}} }

// Open opens (creating if needed) the log in dir and recovers it: the last
// id is found, and a torn or corrupt tail of the newest segment (a crash in
// mid-write) is cut off after copying it to a ".torn-<offset>" file beside
// the segment, with a warning. m may be nil (metrics not registered).
func Open(dir string, cfg Config, log *zap.Logger, m *Metrics) (*Log, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sharelog: open: %w", err)
	}
	l := &Log{
		dir:        dir,
		cfg:        cfg,
		log:        log.Named("sharelog"),
		m:          m,
		cur:        newBatch(),
		spare:      newBatch(),
		spaceFreed: make(chan struct{}),
		wake:       make(chan struct{}, 1),
		notify:     make(chan struct{}),
		quit:       make(chan struct{}),
	}
	if err := l.lockDir(); err != nil {
		return nil, err
	}
	err = l.recover()
	if err == nil {
		err = l.checkInstance()
	}
	if err != nil {
		l.unlockDir()
		if l.f != nil {
			l.f.Close()
		}
		return nil, err
	}
	l.lastSync = cfg.Now()
	l.wg.Add(2)
	go l.writer()
	go l.janitor()
	return l, nil
}

// checkInstance refuses a log whose oldest record belongs to another
// instance: a daemon renamed on its old directory would otherwise ship the
// old instance's records again under the new name's position, and fail on
// them for ever. A damaged first record is left to the shipper to report.
func (l *Log) checkInstance() error {
	r, err := OpenReader(l.dir, Position{}, l.log)
	if err != nil {
		return err
	}
	defer r.Close()
	var rec share.Record
	if ok, err := r.Next(&rec); !ok || err != nil || rec.Instance == l.cfg.Instance {
		return nil
	}
	return fmt.Errorf("%w: %s holds records of instance %q, this daemon is %q (set instance back, or ship the log with `aditctl sharelog ship` and start on an empty directory)",
		ErrInstanceMismatch, l.dir, rec.Instance, l.cfg.Instance)
}

func (l *Log) lockDir() error {
	f, err := os.OpenFile(filepath.Join(l.dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("sharelog: lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("%w: %s", ErrLocked, l.dir)
		}
		return fmt.Errorf("sharelog: lock: %w", err)
	}
	l.lockFile = f
	return nil
}

func (l *Log) unlockDir() {
	if l.lockFile != nil {
		_ = unix.Flock(int(l.lockFile.Fd()), unix.LOCK_UN)
		l.lockFile.Close()
		l.lockFile = nil
	}
}

// recover scans the directory, repairs the newest segment's tail, and
// leaves the writer state (f, seg, off, nextID) ready to append.
func (l *Log) recover() error {
	seqs, err := listSegments(l.dir)
	if err != nil {
		return fmt.Errorf("sharelog: open: %w", err)
	}
	if len(seqs) == 0 {
		rnd := l.cfg.Rand
		if rnd == nil {
			rnd = rand.Reader
		}
		if _, err := io.ReadFull(rnd, l.logID[:]); err != nil {
			return fmt.Errorf("sharelog: log id: %w", err)
		}
		if err := l.createSegment(1); err != nil {
			return err
		}
		l.first = 1
		l.nextID = max(1, l.cfg.NextIDFloor)
		l.durable = Position{Segment: 1, Offset: headerSize}
		l.log.Info("share log created", zap.String("dir", l.dir), zap.String("log_id", logIDString(l.logID)))
		return nil
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			return &CorruptError{Pos: Position{Segment: seqs[i-1] + 1}, Reason: fmt.Sprintf("segment missing between %d and %d", seqs[i-1], seqs[i])}
		}
	}
	l.first = seqs[0]
	// The log id comes from the oldest segment; the newest must agree.
	id, err := readHeader(l.dir, seqs[0])
	if err != nil {
		if len(seqs) > 1 {
			return err
		}
		// A single segment with a header torn at creation: start afresh
		// with a new id below.
	}
	l.logID = id

	last := seqs[len(seqs)-1]
	end, lastID, err := l.repairTail(last)
	if err != nil {
		return err
	}
	// An empty newest segment: the last id is in an older one.
	for i := len(seqs) - 2; lastID == 0 && i >= 0; i-- {
		if _, lastID, err = scanSegment(l.dir, seqs[i]); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(segPath(l.dir, last), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("sharelog: open: %w", err)
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("sharelog: open: %w", err)
	}
	l.f, l.seg, l.off = f, last, end
	l.nextID = max(lastID+1, l.cfg.NextIDFloor, 1)
	l.durable = Position{Segment: last, Offset: end}
	l.durableID = lastID
	l.log.Info("share log opened", zap.String("dir", l.dir), zap.String("log_id", logIDString(l.logID)),
		zap.Uint64("first_segment", l.first), zap.Uint64("last_segment", last),
		zap.Int64("offset", end), zap.Uint64("last_id", lastID))
	return nil
}

func readHeader(dir string, seq uint64) ([16]byte, error) {
	var id [16]byte
	f, err := os.Open(segPath(dir, seq))
	if err != nil {
		return id, fmt.Errorf("sharelog: open: %w", err)
	}
	defer f.Close()
	h := make([]byte, headerSize)
	n, err := io.ReadFull(f, h)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return id, fmt.Errorf("sharelog: open: %w", err)
	}
	id, perr := parseHeader(h[:n], seq)
	if perr != nil {
		return id, &CorruptError{Pos: Position{Segment: seq}, Reason: "segment header: " + perr.Error()}
	}
	return id, nil
}

// scanSegment reads a sealed segment and returns the end of its last good
// record and that record's id (0 if none). Any bad frame is an error.
func scanSegment(dir string, seq uint64) (int64, uint64, error) {
	end, lastID, bad, err := scanFrames(dir, seq)
	if err != nil {
		return 0, 0, err
	}
	if bad != "" {
		return 0, 0, &CorruptError{Pos: Position{Segment: seq, Offset: end}, Reason: bad}
	}
	return end, lastID, nil
}

// scanFrames reads seq from its header on and returns the end of the last
// good record, its id, and why reading stopped early ("" at a clean end).
func scanFrames(dir string, seq uint64) (end int64, lastID uint64, bad string, err error) {
	f, err := os.Open(segPath(dir, seq))
	if err != nil {
		return 0, 0, "", fmt.Errorf("sharelog: scan: %w", err)
	}
	defer f.Close()
	r := newFileReader(f, headerSize)
	end = headerSize
	var buf []byte
	var rec share.Record
	var dec Decoder
	for {
		var p []byte
		var reason string
		p, buf, reason, err = readFrame(r, buf)
		if err == io.EOF {
			return end, lastID, "", nil
		}
		if err == errTorn {
			return end, lastID, "torn record: " + reason, nil
		}
		if err != nil {
			return 0, 0, "", fmt.Errorf("sharelog: scan: %w", err)
		}
		if reason != "" {
			return end, lastID, reason, nil
		}
		if derr := dec.Decode(p, &rec); derr != nil {
			return end, lastID, derr.Error(), nil
		}
		lastID = rec.ID
		end += int64(frameHeaderSize + len(p))
	}
}

// repairTail scans the newest segment; a torn or corrupt tail is copied
// aside and cut off. It returns the append offset and the last id in it.
func (l *Log) repairTail(seq uint64) (int64, uint64, error) {
	path := segPath(l.dir, seq)
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("sharelog: open: %w", err)
	}
	if _, herr := readHeader(l.dir, seq); herr != nil {
		if fi.Size() > headerSize {
			return 0, 0, herr // a damaged header on a segment with data: refuse
		}
		// Crash while creating the segment: write the header again.
		l.log.Warn("share log segment header torn, rewriting it", zap.String("segment", path), zap.Error(herr))
		l.m.TornTail.Inc()
		if l.logID == ([16]byte{}) {
			if _, err := io.ReadFull(rand.Reader, l.logID[:]); err != nil {
				return 0, 0, fmt.Errorf("sharelog: log id: %w", err)
			}
		}
		if err := os.WriteFile(path, encodeHeader(seq, l.logID), 0o640); err != nil {
			return 0, 0, fmt.Errorf("sharelog: rewrite header: %w", err)
		}
		return headerSize, 0, syncPath(path)
	}
	end, lastID, bad, err := scanFrames(l.dir, seq)
	if err != nil {
		return 0, 0, err
	}
	if bad == "" && end == fi.Size() {
		return end, lastID, nil
	}
	// Torn or corrupt tail: keep the bytes for forensics, then cut them.
	aside := fmt.Sprintf("%s.torn-%d", path, end)
	if err := copyTail(path, aside, end); err != nil {
		return 0, 0, err
	}
	if err := os.Truncate(path, end); err != nil {
		return 0, 0, fmt.Errorf("sharelog: truncate torn tail: %w", err)
	}
	if err := syncPath(path); err != nil {
		return 0, 0, err
	}
	l.m.TornTail.Inc()
	l.log.Warn("share log tail torn or corrupt, cut off at the last good record",
		zap.String("segment", path), zap.Int64("offset", end), zap.Int64("bytes_cut", fi.Size()-end),
		zap.String("reason", bad), zap.String("saved_to", aside), zap.Uint64("last_good_id", lastID))
	return end, lastID, nil
}

func copyTail(src, dst string, from int64) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("sharelog: save torn tail: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("sharelog: save torn tail: %w", err)
	}
	if _, err := io.Copy(out, io.NewSectionReader(in, from, 1<<62)); err != nil {
		out.Close()
		return fmt.Errorf("sharelog: save torn tail: %w", err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("sharelog: save torn tail: %w", err)
	}
	return out.Close()
}

func syncPath(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sharelog: sync: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sharelog: sync: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sharelog: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sharelog: sync dir: %w", err)
	}
	return nil
}

// createSegment creates segment seq with its header, makes it durable
// (unless FsyncNone) and makes it the writer's current file. Writer only.
func (l *Log) createSegment(seq uint64) error {
	path := segPath(l.dir, seq)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("sharelog: create segment: %w", err)
	}
	if _, err := f.Write(encodeHeader(seq, l.logID)); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("sharelog: create segment: %w", err)
	}
	if l.cfg.Fsync != FsyncNone {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("sharelog: create segment: %w", err)
		}
		if err := syncDir(l.dir); err != nil {
			f.Close()
			os.Remove(path)
			return err
		}
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.seg, l.off = f, seq, headerSize
	return nil
}

// Append writes rec to the log, assigns rec.ID, and returns once the record
// is durable under the fsync policy. Concurrent appenders share one write
// and one fsync (group commit). rec.Instance is set to the log's instance if
// empty. On error rec.ID is left unchanged and the share must not be
// acknowledged: ErrDiskFull, ErrClosed, ErrFailed, ErrInvalidRecord,
// ErrInstanceMismatch or the context's error. A context error after the
// record was handed to the writer means it may still be logged (and
// shipped) without having been acknowledged; it is never logged twice.
func (l *Log) Append(ctx context.Context, rec *share.Record) error {
	if rec.Instance == "" {
		rec.Instance = l.cfg.Instance
	} else if rec.Instance != l.cfg.Instance {
		l.m.Rejected.WithLabelValues(reasonInvalid).Inc()
		return fmt.Errorf("%w: %q, log is %q", ErrInstanceMismatch, rec.Instance, l.cfg.Instance)
	}
	if err := checkRecord(rec); err != nil {
		l.m.Rejected.WithLabelValues(reasonInvalid).Inc()
		return err
	}
	size := frameHeaderSize + payloadSize(rec)
	l.mu.Lock()
	for {
		if l.closed {
			l.mu.Unlock()
			l.m.Rejected.WithLabelValues(reasonClosed).Inc()
			return ErrClosed
		}
		if l.failed != nil {
			err := l.failed
			l.mu.Unlock()
			l.m.Rejected.WithLabelValues(reasonIO).Inc()
			return err
		}
		if len(l.cur.ends) == 0 || len(l.cur.buf)+size <= l.cfg.MaxPendingBytes {
			break
		}
		ch := l.spaceFreed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		l.mu.Lock()
	}
	b := l.cur
	idx := len(b.ends)
	b.buf = appendFrame(b.buf, rec)
	b.ends = append(b.ends, len(b.buf))
	res := b.res
	l.mu.Unlock()
	if idx == 0 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	select {
	case <-res.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if res.err != nil {
		return res.err
	}
	rec.ID = res.firstID + uint64(idx)
	return nil
}

// writer is the single goroutine that writes batches and fsyncs them.
func (l *Log) writer() {
	defer l.wg.Done()
	var (
		unsynced []*batchResult // written, waiting for their fsync
		timer    = time.NewTimer(time.Hour)
		timerC   <-chan time.Time
	)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-l.wake:
		case <-timerC:
			timerC = nil
		}
		l.mu.Lock()
		var b *batch // taken from appenders; nil if cur was empty
		closing := l.closed
		if len(l.cur.ends) > 0 {
			b = l.cur
			l.cur, l.spare = l.spare, nil
			if l.cur == nil {
				l.cur = newBatch()
			}
			close(l.spaceFreed)
			l.spaceFreed = make(chan struct{})
		}
		l.mu.Unlock()

		if b != nil {
			res := b.res
			first, err := l.writeBatch(b)
			if err != nil {
				res.err = err
				close(res.done)
				if errors.Is(err, ErrFailed) {
					l.fail(err, unsynced)
					unsynced = nil
				}
			} else {
				res.firstID = first
				unsynced = append(unsynced, res)
			}
			b.buf, b.ends, b.res = b.buf[:0], b.ends[:0], &batchResult{done: make(chan struct{})}
			l.mu.Lock()
			l.spare = b
			l.mu.Unlock()
		}

		if len(unsynced) > 0 {
			now := l.cfg.Now()
			switch {
			case l.cfg.Fsync == FsyncNone:
				l.complete(unsynced, nil)
				unsynced = unsynced[:0]
			case l.cfg.Fsync == FsyncAlways || closing || now.Sub(l.lastSync) >= l.cfg.FsyncInterval:
				err := l.sync()
				l.complete(unsynced, err)
				if err != nil {
					l.fail(err, nil)
				}
				unsynced = unsynced[:0]
			case timerC == nil:
				timer.Reset(l.cfg.FsyncInterval - now.Sub(l.lastSync))
				timerC = timer.C
			}
		}
		if closing {
			l.mu.Lock()
			empty := len(l.cur.ends) == 0
			l.mu.Unlock()
			if empty && len(unsynced) == 0 {
				return
			}
			// Late appenders joined before closed was set: go round again.
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}
}

// fail makes err sticky and fails the given results.
func (l *Log) fail(err error, pending []*batchResult) {
	l.mu.Lock()
	if l.failed == nil {
		l.failed = err
	}
	l.mu.Unlock()
	l.log.Error("share log failed, refusing appends until reopened", zap.Error(err))
	for _, r := range pending {
		r.err = err
		close(r.done)
	}
}

// sync fsyncs the current segment and times it.
func (l *Log) sync() error {
	start := time.Now()
	err := unix.Fdatasync(int(l.f.Fd()))
	l.m.Fsync.Observe(time.Since(start).Seconds())
	l.lastSync = l.cfg.Now()
	if err != nil {
		return fmt.Errorf("%w: fsync %s: %v", ErrFailed, l.f.Name(), err)
	}
	return nil
}

// complete publishes the writer's position as durable (when err is nil) and
// releases the appenders of the given batches.
func (l *Log) complete(rs []*batchResult, err error) {
	if err == nil {
		l.publish()
	}
	for _, r := range rs {
		if err != nil {
			r.firstID, r.err = 0, err
		}
		close(r.done)
	}
}

// publish makes everything written so far visible to readers.
func (l *Log) publish() {
	l.stateMu.Lock()
	l.durable = Position{Segment: l.seg, Offset: l.off}
	l.durableID = l.nextID - 1
	close(l.notify)
	l.notify = make(chan struct{})
	l.updateLagLocked()
	l.stateMu.Unlock()
}

func (l *Log) updateLagLocked() {
	if l.hasShip && l.durableID >= l.shippedID {
		l.m.Lag.Set(float64(l.durableID - l.shippedID))
	}
}

// writeBatch assigns ids, writes the batch (sealing segments that fill up)
// and returns the first id. On failure nothing of the batch remains in the
// log: the write position is rolled back and no id is used.
func (l *Log) writeBatch(b *batch) (uint64, error) {
	if err := l.checkSpace(len(b.buf)); err != nil {
		return 0, err
	}
	first := l.nextID
	start := 0
	for i, end := range b.ends {
		sealFrame(b.buf[start:end], first+uint64(i))
		start = end
	}
	startSeg, startOff := l.seg, l.off
	chunk, prev := 0, 0
	var err error
	for _, end := range b.ends {
		pending := int64(prev - chunk)
		if l.off+pending+int64(end-prev) > l.cfg.SegmentSize && l.off+pending > headerSize {
			if err = l.write(b.buf[chunk:prev]); err != nil {
				break
			}
			if err = l.rotate(); err != nil {
				break
			}
			chunk = prev
		}
		prev = end
	}
	if err == nil {
		err = l.write(b.buf[chunk:])
	}
	if err != nil {
		return 0, l.rollback(startSeg, startOff, err)
	}
	l.nextID += uint64(len(b.ends))
	l.m.GroupRecords.Observe(float64(len(b.ends)))
	l.m.Appended.Add(float64(len(b.ends)))
	l.m.Bytes.Add(float64(len(b.buf)))
	if l.diskFull {
		l.diskFull = false
		l.log.Info("share log has space again, accepting shares")
	}
	return first, nil
}

func (l *Log) write(p []byte) error {
	n, err := l.f.Write(p)
	l.off += int64(n)
	if err != nil {
		return fmt.Errorf("sharelog: write %s: %w", l.f.Name(), err)
	}
	return nil
}

// rotate seals the current segment (fsync unless FsyncNone) and starts the
// next one.
func (l *Log) rotate() error {
	if l.cfg.Fsync != FsyncNone {
		if err := l.sync(); err != nil {
			return err
		}
	}
	return l.createSegment(l.seg + 1)
}

// rollback undoes a failed batch: segments it created are removed and the
// segment it started in is truncated back. A failed rollback, or an fsync
// failure, fails the log.
func (l *Log) rollback(seg uint64, off int64, cause error) error {
	if errors.Is(cause, ErrFailed) {
		return cause
	}
	for s := l.seg; s > seg; s-- {
		if s == l.seg {
			l.f.Close()
			l.f = nil
		}
		if err := os.Remove(segPath(l.dir, s)); err != nil {
			return fmt.Errorf("%w: roll back after %v: %v", ErrFailed, cause, err)
		}
	}
	if l.f == nil {
		f, err := os.OpenFile(segPath(l.dir, seg), os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("%w: roll back after %v: %v", ErrFailed, cause, err)
		}
		l.f = f
	}
	if err := l.f.Truncate(off); err != nil {
		return fmt.Errorf("%w: roll back after %v: %v", ErrFailed, cause, err)
	}
	if _, err := l.f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("%w: roll back after %v: %v", ErrFailed, cause, err)
	}
	l.seg, l.off = seg, off
	if errors.Is(cause, syscall.ENOSPC) {
		return l.diskFullErr(fmt.Sprintf("write failed: %v", cause))
	}
	l.m.Rejected.WithLabelValues(reasonIO).Inc()
	l.log.Error("share log write failed, batch rejected", zap.Error(cause))
	return cause
}

// checkSpace applies the disk-full policy before a write of n bytes.
func (l *Log) checkSpace(n int) error {
	if l.cfg.MinFreeBytes < 0 {
		return nil
	}
	now := l.cfg.Now()
	need := l.cfg.MinFreeBytes + int64(n)
	// statfs at most every 100 ms while there is plenty of room.
	if l.diskFull || now.Sub(l.freeAt) >= 100*time.Millisecond || l.free < 2*need {
		var st unix.Statfs_t
		if err := unix.Statfs(l.dir, &st); err == nil {
			l.free = int64(st.Bavail) * int64(st.Bsize)
			l.freeAt = now
		}
	}
	if l.free < need {
		return l.diskFullErr(fmt.Sprintf("%d bytes free, need %d", l.free, need))
	}
	l.free -= int64(n)
	return nil
}

func (l *Log) diskFullErr(detail string) error {
	l.m.Rejected.WithLabelValues(reasonDiskFull).Inc()
	if !l.diskFull {
		l.diskFull = true
		l.log.Warn("share log disk full, rejecting shares", zap.String("dir", l.dir), zap.String("detail", detail))
	}
	return fmt.Errorf("%w: %s", ErrDiskFull, detail)
}

// Durable returns the position just past the last durable record and that
// record's id (0 if the log has none).
func (l *Log) Durable() (Position, uint64) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.durable, l.durableID
}

// Notify returns a channel that is closed the next time the durable
// position advances.
func (l *Log) Notify() <-chan struct{} {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.notify
}

// LogID identifies this log directory (hex). A new directory gets a new id,
// so a stored position can be checked against the log it came from.
func (l *Log) LogID() string { return logIDString(l.logID) }

// Instance is the instance the log belongs to.
func (l *Log) Instance() string { return l.cfg.Instance }

// Dir is the log directory.
func (l *Log) Dir() string { return l.dir }

// MarkShipped tells the log that every record before pos, up to id lastID,
// is safely in Postgres: the lag gauge follows, and segments wholly before
// pos become eligible for deletion once older than the retention.
func (l *Log) MarkShipped(pos Position, lastID uint64) {
	l.stateMu.Lock()
	if !l.hasShip || l.shipped.Less(pos) || pos == l.shipped {
		l.shipped, l.shippedID, l.hasShip = pos, lastID, true
	}
	l.updateLagLocked()
	l.stateMu.Unlock()
}

// Stats is a snapshot of the log's positions.
type Stats struct {
	FirstSegment uint64
	Durable      Position
	DurableID    uint64
	Shipped      Position
	ShippedID    uint64
}

// Stats returns a snapshot of the log's positions.
func (l *Log) Stats() Stats {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return Stats{FirstSegment: l.first, Durable: l.durable, DurableID: l.durableID, Shipped: l.shipped, ShippedID: l.shippedID}
}

// janitor deletes shipped segments past retention every CleanupInterval.
func (l *Log) janitor() {
	defer l.wg.Done()
	t := time.NewTicker(l.cfg.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
			l.Cleanup()
		}
	}
}

// Cleanup deletes now the segments that lie wholly before the shipped
// position and were sealed longer ago than the retention. It returns how
// many it deleted. The janitor calls it every CleanupInterval.
func (l *Log) Cleanup() int {
	l.stateMu.Lock()
	first, shipped, has, durable := l.first, l.shipped, l.hasShip, l.durable
	l.stateMu.Unlock()
	if !has {
		return 0
	}
	now := l.cfg.Now()
	n := 0
	for seq := first; seq < shipped.Segment && seq < durable.Segment; seq++ {
		path := segPath(l.dir, seq)
		fi, err := os.Stat(path)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				l.log.Warn("share log segment stat failed", zap.String("segment", path), zap.Error(err))
				break
			}
		} else {
			if l.cfg.Retention > 0 && now.Sub(fi.ModTime()) < l.cfg.Retention {
				break // later segments are younger still
			}
			if err := os.Remove(path); err != nil {
				l.log.Warn("share log segment delete failed", zap.String("segment", path), zap.Error(err))
				break
			}
			n++
			l.m.SegmentsDeleted.Inc()
			l.log.Debug("share log segment deleted", zap.String("segment", path))
		}
		l.stateMu.Lock()
		l.first = seq + 1
		l.stateMu.Unlock()
	}
	return n
}

// Close stops accepting appends, writes and fsyncs what was already
// appended, stops the log's goroutines and releases the directory. It is
// idempotent; appenders waiting for space get ErrClosed.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.spaceFreed)
		l.spaceFreed = make(chan struct{})
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
		close(l.quit)
		l.wg.Wait()
		if l.f != nil {
			if err := l.f.Close(); err != nil {
				l.closeErr = fmt.Errorf("sharelog: close: %w", err)
			}
		}
		l.unlockDir()
		l.stateMu.Lock()
		close(l.notify) // wake waiters; Notify returns this closed channel from now on
		l.stateMu.Unlock()
	})
	return l.closeErr
}
