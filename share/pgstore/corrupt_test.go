package pgstore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharelog"
)

// TestShipStopsExactlyAtDamage: a damaged record in a sealed segment stops
// the shipper, but only after every intact record before it is shipped
// (also those read into the same batch), so the stored position is the
// damaged record's, where aditctl sharelog skip expects it.
func TestShipStopsExactlyAtDamage(t *testing.T) {
	_, pool := setup(t)
	dir := t.TempDir()
	l := openLog(t, dir)
	appendConcurrently(t, l, 1, 5000) // several 256 KiB segments
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The 1000th record's frame, in segment 1 (sealed).
	r, err := sharelog.OpenReader(dir, sharelog.Position{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rec share.Record
	for range 999 {
		if ok, err := r.Next(&rec); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	bad := r.Position()
	r.Close()
	if bad.Segment != 1 {
		t.Fatalf("record 1000 is in segment %d", bad.Segment)
	}
	path := filepath.Join(dir, fmt.Sprintf("%020d.seg", bad.Segment))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[bad.Offset+40] ^= 1
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}

	l = openLog(t, dir)
	defer l.Close()
	m := NewMetrics(nil)
	sh, err := NewShipper(pool, l, instance, Config{}, zaptest.NewLogger(t), m) // MaxBatch 10,000: one batch would span the damage
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sh.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for pos, _ := sh.Shipped(); pos != bad; pos, _ = sh.Shipped() {
		if time.Now().After(deadline) {
			id, _ := sh.Shipped()
			t.Fatalf("the shipper got to %v, not to the damage at %v", id, bad)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// It stays there, retrying.
	for errs := metricValue(t, m.Errors); metricValue(t, m.Errors) < errs+2; {
		if time.Now().After(deadline) {
			t.Fatal("the shipper does not report the damage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if pos, id := sh.Shipped(); pos != bad || id != 999 {
		t.Fatalf("shipped up to %v (id %d), want the damaged record's position %v (id 999)", pos, id, bad)
	}
	checkExactlyOnce(t, pool, 999)
}
