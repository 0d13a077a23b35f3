package sharelog

import (
	"errors"
	"os"
	"testing"

	"github.com/adit-pool/adit/share"
)

// framePos is a record's frame start and its id.
type framePos struct {
	at Position
	id uint64
}

// writeSegments appends n records to a fresh log in dir with minimum-size
// segments, closes it and returns every record's frame position.
func writeSegments(t *testing.T, dir string, n int) []framePos {
	t.Helper()
	l, _ := openLog(t, dir, Config{SegmentSize: minSegmentSize, Fsync: FsyncNone})
	appendN(t, l, 0, n)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReader(dir, Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []framePos
	start := r.Position()
	for {
		var rec share.Record
		ok, err := r.Next(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		end := r.Position()
		if start.Segment != end.Segment { // the previous Next ended a segment
			start = Position{Segment: end.Segment, Offset: headerSize}
		}
		out = append(out, framePos{at: start, id: rec.ID})
		start = end
	}
}

// flipByte inverts one byte of a segment file.
func flipByte(t *testing.T, dir string, pos Position) {
	t.Helper()
	path := segPath(dir, pos.Segment)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos.Offset] ^= 0xff
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// corruptAt checks that an offline reader from the log's start stops with a
// *CorruptError at want.
func corruptAt(t *testing.T, dir string, want Position) {
	t.Helper()
	r, err := OpenReader(dir, Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		var rec share.Record
		ok, err := r.Next(&rec)
		var ce *CorruptError
		if errors.As(err, &ce) {
			if ce.Pos != want {
				t.Fatalf("corrupt record reported at %v, want %v", ce.Pos, want)
			}
			return
		}
		if err != nil || !ok {
			t.Fatalf("reader ended (%v) without reporting the damage at %v", err, want)
		}
	}
}

// TestNextIntact damages records in sealed segments in the ways bit rot
// does and checks where NextIntact resumes, and that a reader resumed
// there reads every later record.
func TestNextIntact(t *testing.T) {
	cases := []struct {
		name string
		// damaged picks the damaged record's index, flip the byte to invert
		// (relative to its frame start), want the index of the resume point
		// (-1: the start of the next segment).
		damaged func(fs []framePos) int
		flip    int64
		want    func(fs []framePos, i int) int
	}{
		{"payload byte", firstInSegment(1, 3), frameHeaderSize + 20, next},
		{"checksum", firstInSegment(1, 5), 5, next},
		{"length field", firstInSegment(1, 7), 1, next},
		{"first of a segment", firstInSegment(2, 0), frameHeaderSize + 40, next},
		{"last of a segment", lastInSegment(1), frameHeaderSize + 3, func([]framePos, int) int { return -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := writeSegments(t, dir, 1500)
			if fs[len(fs)-1].at.Segment < 3 {
				t.Fatalf("want at least 3 segments, have %d", fs[len(fs)-1].at.Segment)
			}
			i := tc.damaged(fs)
			at := fs[i].at
			flipByte(t, dir, Position{Segment: at.Segment, Offset: at.Offset + tc.flip})
			corruptAt(t, dir, at)

			got, err := NextIntact(dir, at)
			if err != nil {
				t.Fatal(err)
			}
			want := Position{Segment: at.Segment + 1, Offset: headerSize}
			if j := tc.want(fs, i); j >= 0 {
				want = fs[j].at
			}
			if got != want {
				t.Fatalf("NextIntact(%v) = %v, want %v", at, got, want)
			}
			r, err := OpenReader(dir, got, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			recs := readAll(t, r)
			if len(recs) != len(fs)-i-1 || recs[0].ID != fs[i].id+1 {
				t.Fatalf("after resuming read %d records from id %d, want %d from id %d",
					len(recs), recs[0].ID, len(fs)-i-1, fs[i].id+1)
			}
		})
	}
}

func next(_ []framePos, i int) int { return i + 1 }

// firstInSegment picks the k-th record of segment seq.
func firstInSegment(seq uint64, k int) func([]framePos) int {
	return func(fs []framePos) int {
		for i, f := range fs {
			if f.at.Segment == seq {
				return i + k
			}
		}
		panic("no such segment")
	}
}

// lastInSegment picks the last record of segment seq.
func lastInSegment(seq uint64) func([]framePos) int {
	return func(fs []framePos) int {
		for i, f := range fs {
			if f.at.Segment > seq {
				return i - 1
			}
		}
		panic("no later segment")
	}
}

// TestNextIntactNewestSegment: damage in the newest segment with nothing
// intact after it has no resume point; with intact records after it, it
// resumes at the next one.
func TestNextIntactNewestSegment(t *testing.T) {
	dir := t.TempDir()
	fs := writeSegments(t, dir, 1500)
	last := len(fs) - 1
	flipByte(t, dir, Position{Segment: fs[last].at.Segment, Offset: fs[last].at.Offset + frameHeaderSize + 1})
	if _, err := NextIntact(dir, fs[last].at); !errors.Is(err, ErrNoIntact) {
		t.Fatalf("damaged last record of the log: err %v, want ErrNoIntact", err)
	}
	mid := last - 10
	flipByte(t, dir, Position{Segment: fs[mid].at.Segment, Offset: fs[mid].at.Offset + frameHeaderSize + 1})
	if got, err := NextIntact(dir, fs[mid].at); err != nil || got != fs[mid+1].at {
		t.Fatalf("NextIntact = %v, %v; want %v", got, err, fs[mid+1].at)
	}
	for _, bad := range []Position{{Segment: 99, Offset: headerSize}, {Segment: 1, Offset: 3}, {Segment: 1, Offset: 1 << 30}} {
		if _, err := NextIntact(dir, bad); err == nil {
			t.Errorf("NextIntact(%v) accepted a position outside the log", bad)
		}
	}
}

// TestSegments lists the segments with their sizes and the log id.
func TestSegments(t *testing.T) {
	dir := t.TempDir()
	if id, segs, err := Segments(dir); err != nil || id != "" || len(segs) != 0 {
		t.Fatalf("empty dir: %q %v %v", id, segs, err)
	}
	l, _ := openLog(t, dir, Config{SegmentSize: minSegmentSize})
	appendN(t, l, 0, 1000)
	id := l.LogID()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	gotID, segs, err := Segments(dir)
	if err != nil || gotID != id || len(segs) < 2 {
		t.Fatalf("Segments = %q, %v, %v; want id %q and several segments", gotID, segs, err, id)
	}
	for i, s := range segs {
		fi, err := os.Stat(segPath(dir, s.Seq))
		if err != nil || s.Seq != uint64(i+1) || s.Size != fi.Size() {
			t.Fatalf("segment %d: %+v (stat %v, %v)", i, s, fi, err)
		}
	}
}

// TestReaderStopsAtDamage: after a *CorruptError every Next returns it
// again and the position stays before the damage (reading on would return
// the records after it at wrong positions).
func TestReaderStopsAtDamage(t *testing.T) {
	dir := t.TempDir()
	fs := writeSegments(t, dir, 1500)
	bad := fs[50].at
	flipByte(t, dir, Position{Segment: bad.Segment, Offset: bad.Offset + frameHeaderSize + 7})
	r, err := OpenReader(dir, fs[40].at, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rec share.Record
	for range 10 {
		if ok, err := r.Next(&rec); !ok || err != nil {
			t.Fatalf("intact record: %v %v", ok, err)
		}
	}
	for range 3 {
		ok, err := r.Next(&rec)
		var ce *CorruptError
		if ok || !errors.As(err, &ce) || ce.Pos != bad || r.Position() != bad {
			t.Fatalf("Next at the damage: %v %v, position %v; want a CorruptError at %v", ok, err, r.Position(), bad)
		}
	}
}
