package sv2_test

import (
	"context"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/client"
)

// TestStaleOnlyAfterSetNewPrevHash: a share on the old tip is stale-share
// only once the channel has been sent the SetNewPrevHash of the new tip.
// The test holds the new job between the validator and the session
// (V.AddJob, then Deliver), so the window is deterministic. After it, a
// share that solves a block on the old tip is still a block candidate (the
// new tip may be that block).
func TestStaleOnlyAfterSetNewPrevHash(t *testing.T) {
	// Half the hashes meet the share target, a quarter the network's: some
	// shares are blocks, some are not.
	const quarterBits = 0x203fffff
	for _, tc := range []struct {
		name     string
		flags    uint32
		extended bool
	}{
		{"standard", sv2.FlagRequiresStandardJobs, false},
		{"standard in a group", 0, false},
		{"extended", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
			b.Publish(sharetest.Job(1, 1, now, quarterBits))
			e := startServer(t, sv2.Config{SuccessBatch: 1}, b)
			c := e.dial(tc.flags)
			var ch *client.Channel
			var err error
			if tc.extended {
				ch, err = c.OpenExtended(context.Background(), "addr.w", 0, 4)
			} else {
				ch, err = c.OpenStandard(context.Background(), "addr.w", 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			if inGroup := ch.GroupID != 0; inGroup != (tc.flags == 0 && !tc.extended) {
				t.Fatalf("channel %+v: group %v", ch, inGroup)
			}
			w1 := nextWork(t, c, ch.ID)
			var en []byte
			if tc.extended {
				en = []byte{1, 2, 3, 4}
			}
			submit := func(w *client.Work, nonce uint32) {
				t.Helper()
				if tc.extended {
					c.SubmitExtended(w, en, w.MinNTime, nonce, w.Version)
				} else {
					c.SubmitStandard(w, w.MinNTime, nonce, w.Version)
				}
			}
			accepted := func(what string) {
				t.Helper()
				if r := nextResult(t, c); !r.Acknowledged || r.ChannelID != ch.ID {
					t.Fatalf("%s: %+v, want accepted", what, r)
				}
			}

			job2 := sharetest.Job(2, 2, now, quarterBits)
			b.V.AddJob(job2)
			// Not yet sent to the channel: a share on job 1 is judged in
			// full, and a block on it is still a block candidate.
			blk := mineBlock(t, &w1, en, 0)
			submit(&w1, blk)
			accepted("block on the old tip before SetNewPrevHash")
			if recs := b.Records(); len(recs) != 1 || !recs[0].Block || recs[0].JobID != 1 {
				t.Fatalf("records %+v: want one block on job 1", recs)
			}
			submit(&w1, mine(&w1, en, w1.Version, blk+1, true))
			accepted("share on the old tip before SetNewPrevHash")

			b.Deliver(job2)
			w2 := nextWork(t, c, ch.ID) // emitted by the client on SetNewPrevHash
			if w2.JobID != 2 || w2.PrevHash != job2.PrevHash {
				t.Fatalf("work after the new tip %+v", w2)
			}
			submit(&w1, mineShare(t, &w1, en, blk+1000))
			wantCode(t, c, sv2.CodeStaleShare)
			submit(&w2, mine(&w2, en, w2.Version, 0, true))
			accepted("share on the new tip")
			if got := e.metric("adit_shares_total", "protocol", "v2", "result", "stale"); got != 1 {
				t.Fatalf("stale shares %v, want 1", got)
			}
			// A block on the old tip after SetNewPrevHash: judged in full.
			blk2 := mineBlock(t, &w1, en, blk+2000)
			submit(&w1, blk2)
			accepted("block on the old tip after SetNewPrevHash")
			if recs := b.Records(); !recs[len(recs)-1].Block || recs[len(recs)-1].JobID != 1 {
				t.Fatalf("records %+v: want a block on job 1 last", recs)
			}
		})
	}
}

// mineBlock returns a nonce from start whose header meets both w's share
// target and its network target.
func mineBlock(t *testing.T, w *client.Work, extranonce []byte, start uint32) uint32 {
	t.Helper()
	return mineWhere(t, w, extranonce, start, true)
}

// mineShare returns a nonce from start whose header meets w's share
// target and not its network target.
func mineShare(t *testing.T, w *client.Work, extranonce []byte, start uint32) uint32 {
	t.Helper()
	return mineWhere(t, w, extranonce, start, false)
}

func mineWhere(t *testing.T, w *client.Work, extranonce []byte, start uint32, block bool) uint32 {
	t.Helper()
	network := share.TargetFromCompact(w.NBits)
	root := w.Root(extranonce)
	for n := start; n < start+1<<20; n++ {
		h := w.Header(&root, w.MinNTime, n, w.Version)
		hash := share.DoubleSHA256(h[:])
		if w.Target.Met(&hash) && network.Met(&hash) == block {
			return n
		}
	}
	t.Fatal("no nonce found")
	return 0
}
