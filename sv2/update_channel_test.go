package sv2_test

import (
	"math"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/noise"
)

// TestUpdateChannel: UpdateChannel is answered as the SRI pool answers it:
// errors for an unknown channel and a bad hash rate, otherwise SetTarget
// every time, with the target clamped to the new maximum.
func TestUpdateChannel(t *testing.T) {
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), 1)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	e := startServer(t, sv2.Config{}, b)
	nc := rawNoise(t, e)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	send := func(m codec.Message) {
		t.Helper()
		if err := nc.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	send(&codec.SetupConnection{Protocol: 0, MinVersion: 2, MaxVersion: 2})
	next[*codec.SetupConnectionSuccess](t, nc)
	all := share.MaxTarget.LE()
	send(&codec.OpenStandardMiningChannel{RequestID: 7, UserIdentity: "bcrt1qminer.rig", MaxTarget: all})
	ok := next[*codec.OpenStandardMiningChannelSuccess](t, nc)
	start := share.TargetFromLE(ok.Target)

	send(&codec.UpdateChannel{ChannelID: ok.ChannelID + 100, MaximumTarget: all})
	if e := next[*codec.UpdateChannelError](t, nc); e.ErrorCode != sv2.CodeInvalidChannelID {
		t.Fatalf("unknown channel: %+v", e)
	}
	send(&codec.UpdateChannel{ChannelID: ok.ChannelID, NominalHashRate: float32(math.NaN()), MaximumTarget: all})
	if e := next[*codec.UpdateChannelError](t, nc); e.ErrorCode != sv2.CodeInvalidNominalHashrate {
		t.Fatalf("NaN hash rate: %+v", e)
	}
	// Nothing changes: SetTarget still confirms the target.
	send(&codec.UpdateChannel{ChannelID: ok.ChannelID, MaximumTarget: all})
	if st := next[*codec.SetTarget](t, nc); st.ChannelID != ok.ChannelID || share.TargetFromLE(st.MaximumTarget) != start {
		t.Fatalf("unchanged: %+v, want target %x", st, start.LE())
	}
	// A lower maximum clamps the target.
	harder := share.TargetFromDifficulty(1000)
	send(&codec.UpdateChannel{ChannelID: ok.ChannelID, MaximumTarget: harder.LE()})
	if st := next[*codec.SetTarget](t, nc); share.TargetFromLE(st.MaximumTarget) != harder {
		t.Fatalf("clamped: %x, want %x", st.MaximumTarget, harder.LE())
	}
}

// next reads messages, skipping jobs and prev hashes, until one of type T.
func next[T codec.Message](t *testing.T, nc *noise.Conn) T {
	t.Helper()
	for {
		_, m, err := nc.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case T:
			return m
		case *codec.NewMiningJob, *codec.NewExtendedMiningJob, *codec.SetNewPrevHash:
		default:
			t.Fatalf("unexpected %T %+v", m, m)
		}
	}
}
