package sharelog

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/adit-pool/adit/share"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testRecord(i int) share.Record {
	r := share.Record{
		Time:               time.Unix(1_700_000_000, int64(i)*1000).UTC(),
		Worker:             share.Worker{Address: "bcrt1qexampleaddress", Name: fmt.Sprintf("rig%d", i%7)},
		Protocol:           share.ProtocolV1,
		JobID:              uint32(i),
		Height:             int64(100 + i),
		AssignedDifficulty: 1024,
		ReachedDifficulty:  2048.5 + float64(i),
		NetworkDifficulty:  1e12,
		Block:              i%97 == 0,
		Declared:           i%5 == 2,
		RemoteAddr:         "127.0.0.1:4444",
	}
	r.Hash[0], r.Hash[31] = byte(i), byte(i>>8)
	return r
}

func openLog(t *testing.T, dir string, cfg Config) (*Log, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	if cfg.Instance == "" {
		cfg.Instance = "test-1"
	}
	if cfg.MinFreeBytes == 0 {
		cfg.MinFreeBytes = -1
	}
	l, err := Open(dir, cfg, zap.New(core), nil)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l, logs
}

func appendN(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		r := testRecord(i)
		if err := l.Append(context.Background(), &r); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

func readAll(t *testing.T, r *Reader) []share.Record {
	t.Helper()
	var out []share.Record
	for {
		var rec share.Record
		ok, err := r.Next(&rec)
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, rec)
	}
}

func sameRecord(a, b share.Record) bool {
	return a.ID == b.ID && a.Time.Equal(b.Time) && a.Instance == b.Instance && a.Worker == b.Worker &&
		a.Protocol == b.Protocol && a.JobID == b.JobID && a.Height == b.Height &&
		a.AssignedDifficulty == b.AssignedDifficulty && a.ReachedDifficulty == b.ReachedDifficulty &&
		a.NetworkDifficulty == b.NetworkDifficulty && a.Block == b.Block && a.Declared == b.Declared &&
		a.Hash == b.Hash && a.RemoteAddr == b.RemoteAddr
}

func TestCodecRoundTrip(t *testing.T) {
	for i := range 50 {
		r := testRecord(i)
		r.ID = uint64(i) * 1e15
		r.Instance = "inst"
		p := AppendRecord(nil, &r)
		if len(p) != payloadSize(&r) {
			t.Fatalf("size %d, want %d", len(p), payloadSize(&r))
		}
		var got share.Record
		if err := DecodeRecord(p, &got); err != nil {
			t.Fatal(err)
		}
		if !sameRecord(r, got) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, r)
		}
		// Every truncation and a trailing byte are rejected.
		for n := range len(p) {
			if err := DecodeRecord(p[:n], &got); !errors.Is(err, ErrBadPayload) {
				t.Fatalf("truncated to %d: err %v", n, err)
			}
		}
		if err := DecodeRecord(append(p, 0), &got); !errors.Is(err, ErrBadPayload) {
			t.Fatalf("trailing byte: err %v", err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	r := testRecord(3)
	f.Add(AppendRecord(nil, &r))
	f.Add([]byte{1, 2, 3})
	f.Add(mustHex(f, v1Record))
	f.Fuzz(func(t *testing.T, p []byte) {
		var rec share.Record
		if err := DecodeRecord(p, &rec); err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes, a version-1
		// record as the same record in version 2.
		rec.Time = rec.Time.UTC()
		if p[0] == 1 {
			p = append([]byte{payloadVersion}, p[1:]...)
		}
		if q := AppendRecord(nil, &rec); string(q) != string(p) {
			t.Fatalf("re-encode differs:\n%x\n%x", q, p)
		}
	})
}

func TestAppendReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, Config{SegmentSize: minSegmentSize})
	const n = 3000 // ~150 bytes each: several 64 KiB segments
	var want []share.Record
	for i := range n {
		r := testRecord(i)
		if err := l.Append(context.Background(), &r); err != nil {
			t.Fatal(err)
		}
		if r.ID != uint64(i+1) || r.Instance != "test-1" {
			t.Fatalf("record %d: id %d instance %q", i, r.ID, r.Instance)
		}
		want = append(want, r)
	}
	st := l.Stats()
	if st.Durable.Segment < 3 || st.DurableID != n {
		t.Fatalf("stats %+v", st)
	}
	rd, err := l.NewReader(Position{})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, rd)
	if len(got) != n {
		t.Fatalf("read %d records, want %d", len(got), n)
	}
	for i := range got {
		if !sameRecord(got[i], want[i]) {
			t.Fatalf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if rd.Position() != st.Durable {
		t.Fatalf("reader at %v, durable %v", rd.Position(), st.Durable)
	}
	// Resume from a middle position.
	mid := Position{}
	rd2, _ := l.NewReader(Position{})
	for range 1234 {
		var rec share.Record
		if ok, err := rd2.Next(&rec); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	mid = rd2.Position()
	rd2.Close()
	rd3, err := l.NewReader(mid)
	if err != nil {
		t.Fatal(err)
	}
	rest := readAll(t, rd3)
	if len(rest) != n-1234 || rest[0].ID != 1235 {
		t.Fatalf("resume: %d records, first id %d", len(rest), rest[0].ID)
	}
	// A reader at the end sees new records as they become durable.
	appendN(t, l, n, 5)
	if more := readAll(t, rd3); len(more) != 5 || more[4].ID != n+5 {
		t.Fatalf("tail: %d records", len(more))
	}
	rd.Close()
	rd3.Close()
	if _, err := l.NewReader(Position{Segment: 999, Offset: 32}); !errors.Is(err, ErrPositionAhead) {
		t.Fatalf("ahead: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal("second close:", err)
	}
	r := testRecord(0)
	if err := l.Append(context.Background(), &r); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

func TestIDRecoveryAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, Config{SegmentSize: minSegmentSize})
	appendN(t, l, 0, 1000)
	id := l.LogID()
	l.Close()

	l, _ = openLog(t, dir, Config{SegmentSize: minSegmentSize})
	if l.LogID() != id {
		t.Fatalf("log id changed: %s -> %s", id, l.LogID())
	}
	r := testRecord(1000)
	if err := l.Append(context.Background(), &r); err != nil || r.ID != 1001 {
		t.Fatalf("after reopen: id %d err %v", r.ID, err)
	}
	l.Close()

	// A floor (ids already in Postgres) wins over the recovered id.
	l, _ = openLog(t, dir, Config{SegmentSize: minSegmentSize, NextIDFloor: 5000})
	if err := l.Append(context.Background(), &r); err != nil || r.ID != 5000 {
		t.Fatalf("with floor: id %d err %v", r.ID, err)
	}
	l.Close()

	// Ids also survive a rotation to an empty newest segment.
	seqs, _ := listSegments(dir)
	last := seqs[len(seqs)-1]
	var logID [16]byte
	copy(logID[:], mustHeader(t, dir, last))
	if err := os.WriteFile(segPath(dir, last+1), encodeHeader(last+1, logID), 0o640); err != nil {
		t.Fatal(err)
	}
	l, _ = openLog(t, dir, Config{SegmentSize: minSegmentSize})
	if err := l.Append(context.Background(), &r); err != nil || r.ID != 5001 {
		t.Fatalf("empty newest segment: id %d err %v", r.ID, err)
	}
	l.Close()
}

func mustHeader(t *testing.T, dir string, seq uint64) []byte {
	t.Helper()
	id, err := readHeader(dir, seq)
	if err != nil {
		t.Fatal(err)
	}
	return id[:]
}

// lastSegmentFile returns the newest segment's path.
func lastSegmentFile(t *testing.T, dir string) string {
	t.Helper()
	seqs, err := listSegments(dir)
	if err != nil || len(seqs) == 0 {
		t.Fatal(seqs, err)
	}
	return segPath(dir, seqs[len(seqs)-1])
}

func TestTruncatedLastRecordReplaysCleanly(t *testing.T) {
	for _, cut := range []int64{1, 5, 8, 20, 100} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := t.TempDir()
			l, _ := openLog(t, dir, Config{})
			appendN(t, l, 0, 100)
			l.Close()
			path := lastSegmentFile(t, dir)
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()-cut); err != nil {
				t.Fatal(err)
			}

			// An offline reader stops before the torn record, with a warning.
			core, obs := observer.New(zapcore.WarnLevel)
			rd, err := OpenReader(dir, Position{}, zap.New(core))
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, rd); len(got) != 99 || got[98].ID != 99 {
				t.Fatalf("offline read %d records", len(got))
			}
			rd.Close()
			if obs.FilterMessage("share log tail torn or corrupt, stopping before it").Len() != 1 {
				t.Fatalf("no warning from offline reader: %v", obs.All())
			}

			l, logs := openLog(t, dir, Config{})
			defer l.Close()
			if logs.FilterMessage("share log tail torn or corrupt, cut off at the last good record").Len() != 1 {
				t.Fatalf("no warning on open: %v", logs.All())
			}
			if _, err := os.Stat(fmt.Sprintf("%s.torn-%d", path, fi.Size()-int64(recordFrameSize(t)))); err != nil {
				t.Fatalf("torn bytes not kept: %v", err)
			}
			r := testRecord(100)
			if err := l.Append(context.Background(), &r); err != nil || r.ID != 100 {
				t.Fatalf("append after repair: id %d err %v", r.ID, err)
			}
			rd, _ = l.NewReader(Position{})
			defer rd.Close()
			got := readAll(t, rd)
			if len(got) != 100 {
				t.Fatalf("read %d records", len(got))
			}
			for i, g := range got {
				if g.ID != uint64(i+1) {
					t.Fatalf("record %d has id %d", i, g.ID)
				}
			}
		})
	}
}

// recordFrameSize is the framed size of testRecord(99) stamped by the log.
func recordFrameSize(t *testing.T) int {
	r := testRecord(99)
	r.Instance = "test-1"
	return frameHeaderSize + payloadSize(&r)
}

func TestCorruptCRCInTailIsSkipped(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, Config{})
	appendN(t, l, 0, 50)
	l.Close()
	path := lastSegmentFile(t, dir)
	fi, _ := os.Stat(path)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte inside the last record's payload.
	if _, err := f.WriteAt([]byte{0xff}, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	f.Close()

	l, logs := openLog(t, dir, Config{})
	defer l.Close()
	w := logs.FilterMessage("share log tail torn or corrupt, cut off at the last good record").All()
	if len(w) != 1 {
		t.Fatalf("warnings: %v", logs.All())
	}
	rd, _ := l.NewReader(Position{})
	defer rd.Close()
	if got := readAll(t, rd); len(got) != 49 || got[48].ID != 49 {
		t.Fatalf("read %d records", len(got))
	}
	r := testRecord(7)
	if err := l.Append(context.Background(), &r); err != nil || r.ID != 50 {
		t.Fatalf("id %d err %v", r.ID, err)
	}
}

func TestGroupCommitConcurrentAppenders(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncAlways, FsyncInterval, FsyncNone} {
		t.Run(string(policy), func(t *testing.T) {
			dir := t.TempDir()
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			l, err := Open(dir, Config{Instance: "g", Fsync: policy, FsyncInterval: 2 * time.Millisecond, SegmentSize: 1 << 20, MinFreeBytes: -1}, zap.NewNop(), m)
			if err != nil {
				t.Fatal(err)
			}
			const workers, per = 64, 300
			ids := make([][]uint64, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range per {
						r := testRecord(w*per + i)
						if err := l.Append(context.Background(), &r); err != nil {
							t.Error(err)
							return
						}
						ids[w] = append(ids[w], r.ID)
					}
				}()
			}
			wg.Wait()
			seen := make(map[uint64]bool)
			for _, s := range ids {
				for i, id := range s {
					if seen[id] || id == 0 || id > workers*per {
						t.Fatalf("bad or duplicate id %d", id)
					}
					if i > 0 && id <= s[i-1] {
						t.Fatalf("ids not increasing for one appender")
					}
					seen[id] = true
				}
			}
			rd, _ := l.NewReader(Position{})
			got := readAll(t, rd)
			rd.Close()
			if len(got) != workers*per {
				t.Fatalf("read %d", len(got))
			}
			for i, g := range got {
				if g.ID != uint64(i+1) {
					t.Fatalf("log order: record %d id %d", i, g.ID)
				}
			}
			if n := metricValue(t, m.Appended); n != workers*per {
				t.Fatalf("appended metric %v", n)
			}
			groups := histCount(t, reg, "adit_sharelog_group_records")
			// Under "always" every group waits for its fsync, so appenders
			// pile up behind it and groups must be large. Under "interval"
			// and "none" groups are written without waiting, so their size
			// depends only on scheduling: no assertion.
			if policy == FsyncAlways && groups >= workers*per/2 {
				t.Fatalf("%d groups for %d records: no group commit", groups, workers*per)
			}
			fsyncs := histCount(t, reg, "adit_sharelog_fsync_seconds")
			if policy == FsyncNone && fsyncs != 0 || policy != FsyncNone && fsyncs == 0 {
				t.Fatalf("policy %s: %d fsyncs", policy, fsyncs)
			}
			t.Logf("policy %s: %d records in %d groups, %d fsyncs", policy, workers*per, groups, fsyncs)
			l.Close()
		})
	}
}

func histCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestDiskFullRejects(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	core, logs := observer.New(zapcore.InfoLevel)
	l, err := Open(dir, Config{Instance: "d", MinFreeBytes: 1 << 62}, zap.New(core), m)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 3 {
		r := testRecord(1)
		if err := l.Append(context.Background(), &r); !errors.Is(err, ErrDiskFull) || r.ID != 0 {
			t.Fatalf("want ErrDiskFull, got %v (id %d)", err, r.ID)
		}
	}
	if v := metricValue(t, m.Rejected.WithLabelValues(reasonDiskFull)); v != 3 {
		t.Fatalf("rejected metric %v", v)
	}
	if n := logs.FilterMessage("share log disk full, rejecting shares").Len(); n != 1 {
		t.Fatalf("%d disk-full warnings, want 1", n)
	}
	// Space comes back: appends succeed and the first id is 1 (none burned).
	l.cfg.MinFreeBytes = -1 // writer reads cfg only inside writeBatch; safe between appends
	r := testRecord(2)
	if err := l.Append(context.Background(), &r); err != nil || r.ID != 1 {
		t.Fatalf("after space freed: id %d err %v", r.ID, err)
	}
}

func TestLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, Config{})
	defer l.Close()
	if _, err := Open(dir, Config{Instance: "x"}, nil, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

func TestCleanupDeletesShippedSegments(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l, _ := openLog(t, dir, Config{SegmentSize: minSegmentSize, Retention: time.Hour, Now: clock})
	defer l.Close()
	appendN(t, l, 0, 3000)
	rd, _ := l.NewReader(Position{})
	got := readAll(t, rd)
	pos := rd.Position()
	rd.Close()
	l.MarkShipped(Position{Segment: 3, Offset: headerSize}, got[0].ID) // segments 1, 2 shipped
	if n := l.Cleanup(); n != 0 {
		t.Fatalf("deleted %d segments inside retention", n)
	}
	// Segment files carry real mtimes; move the clock past retention.
	mu.Lock()
	now = time.Now().Add(2 * time.Hour)
	mu.Unlock()
	if n := l.Cleanup(); n != 2 {
		t.Fatalf("deleted %d segments, want 2", n)
	}
	if _, err := os.Stat(segPath(dir, 1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("segment 1 still there: %v", err)
	}
	if _, err := l.NewReader(Position{Segment: 1, Offset: headerSize}); !errors.Is(err, ErrPositionGone) {
		t.Fatalf("reader in deleted segment: %v", err)
	}
	rd, _ = l.NewReader(Position{})
	defer rd.Close()
	if rest := readAll(t, rd); len(rest) == 0 || rd.Position() != pos {
		t.Fatalf("after cleanup read %d, at %v want %v", len(rest), rd.Position(), pos)
	}
	l.MarkShipped(pos, 3000)
	if v := metricValue(t, l.m.Lag); v != 0 {
		t.Fatalf("lag %v", v)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(matches) == 0 {
		t.Fatal("newest segment deleted")
	}
}

func TestAppendRejectsBadRecords(t *testing.T) {
	l, _ := openLog(t, t.TempDir(), Config{})
	defer l.Close()
	r := testRecord(1)
	r.Instance = "other"
	if err := l.Append(context.Background(), &r); !errors.Is(err, ErrInstanceMismatch) {
		t.Fatal(err)
	}
	r = testRecord(1)
	r.Time = time.Time{}
	if err := l.Append(context.Background(), &r); !errors.Is(err, ErrInvalidRecord) {
		t.Fatal(err)
	}
	r = testRecord(1)
	r.Worker.Name = string(make([]byte, MaxStringLen+1))
	if err := l.Append(context.Background(), &r); !errors.Is(err, ErrInvalidRecord) {
		t.Fatal(err)
	}
}

func BenchmarkAppendParallel(b *testing.B) {
	l, err := Open(b.TempDir(), Config{Instance: "bench", MinFreeBytes: -1}, zap.NewNop(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.SetParallelism(64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := testRecord(1)
		for pb.Next() {
			if err := l.Append(context.Background(), &r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// metricValue reads a gauge's or counter's value.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}

// TestOpenRefusesAnotherInstancesLog: a log written by one instance is not
// opened under another name (its shipper would ship the records again under
// the new name, for ever failing on them), and the lock is released.
func TestOpenRefusesAnotherInstancesLog(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir, Config{Instance: "old-name"})
	appendN(t, l, 0, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Config{Instance: "new-name", MinFreeBytes: -1}, nil, nil)
	if !errors.Is(err, ErrInstanceMismatch) || !strings.Contains(err.Error(), `"old-name"`) || !strings.Contains(err.Error(), `"new-name"`) {
		t.Fatalf("open under another instance: %v", err)
	}
	l, _ = openLog(t, dir, Config{Instance: "old-name"}) // not left locked
	defer l.Close()

	// An empty log takes any name.
	empty := t.TempDir()
	e, _ := openLog(t, empty, Config{Instance: "a"})
	e.Close()
	e, _ = openLog(t, empty, Config{Instance: "b"})
	e.Close()
}

// v1Record is a version-1 payload as the previous release wrote it: id 7,
// 2023-11-14T22:13:20.000001Z, V2, block, job 0x01020304, height 840000,
// difficulties 1024 / 2048.5 / 1e12, hash 0xaa…, instance "i", address "a",
// worker "w", remote "r".
const v1Record = "01" + "0700000000000000" + "e8032a36fe9c9717" + "02" + "01" + "04030201" + "40d10c0000000000" +
	"0000000000009040" + "000000000001a040" + "000000a2941a6d42" +
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" +
	"010069" + "010061" + "010077" + "010072"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeVersion1: records written before declared jobs existed still
// read (Declared false); version 1 knows no declared flag; unknown versions
// are refused.
func TestDecodeVersion1(t *testing.T) {
	p := mustHex(t, v1Record)
	var rec share.Record
	if err := DecodeRecord(p, &rec); err != nil {
		t.Fatal(err)
	}
	want := share.Record{ID: 7, Time: time.Unix(1_700_000_000, 1000).UTC(), Instance: "i",
		Worker: share.Worker{Address: "a", Name: "w"}, Protocol: share.ProtocolV2, JobID: 0x01020304, Height: 840000,
		AssignedDifficulty: 1024, ReachedDifficulty: 2048.5, NetworkDifficulty: 1e12, Block: true, RemoteAddr: "r"}
	for i := range want.Hash {
		want.Hash[i] = 0xaa
	}
	if !sameRecord(rec, want) {
		t.Fatalf("v1 record:\n got %+v\nwant %+v", rec, want)
	}
	bad := bytes.Clone(p)
	bad[18] |= 2 // declared: not a version-1 flag
	if err := DecodeRecord(bad, &rec); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("declared flag in v1: %v", err)
	}
	bad[0], bad[18] = 3, 1
	if err := DecodeRecord(bad, &rec); !errors.Is(err, ErrBadPayload) {
		t.Fatalf("version 3: %v", err)
	}
	// Written now, the same record is version 2 with the declared bit.
	want.Declared = true
	q := AppendRecord(nil, &want)
	if q[0] != 2 || q[18] != 3 || !bytes.Equal(q[1:18], p[1:18]) || !bytes.Equal(q[19:], p[19:]) {
		t.Fatalf("v2 encoding %x", q)
	}
	if err := DecodeRecord(q, &rec); err != nil || !rec.Declared || !rec.Block {
		t.Fatalf("v2 decode: %v %+v", err, rec)
	}
}
