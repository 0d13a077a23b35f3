package pool

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
)

func TestDeclarers(t *testing.T) {
	var d declarers
	t0 := time.Unix(1_800_000_000, 0)
	d.add(share.Worker{Address: "bcrt1qb", Name: "rig"}, t0)
	d.add(share.Worker{Address: "bcrt1qa"}, t0.Add(time.Minute))
	d.add(share.Worker{Address: "bcrt1qb", Name: "rig"}, t0.Add(2*time.Minute))
	if got := d.since(t0); !slices.Equal(got, []string{"bcrt1qa", "bcrt1qb.rig"}) {
		t.Fatalf("since t0: %v", got)
	}
	if got := d.since(t0.Add(90 * time.Second)); !slices.Equal(got, []string{"bcrt1qb.rig"}) {
		t.Fatalf("since t0+90s: %v", got)
	}
	if got := d.since(t0); !slices.Equal(got, []string{"bcrt1qb.rig"}) {
		t.Fatalf("a forgotten worker came back: %v", got)
	}
	// Bounded: the oldest goes first.
	for i := range maxDeclarers + 10 {
		d.add(share.Worker{Address: fmt.Sprint("w", i)}, t0.Add(time.Duration(i)*time.Second))
	}
	got := d.since(time.Time{})
	if len(got) != maxDeclarers || slices.Contains(got, "w0") || !slices.Contains(got, fmt.Sprint("w", maxDeclarers+9)) {
		t.Fatalf("%d kept (w0 kept: %v)", len(got), slices.Contains(got, "w0"))
	}
}
