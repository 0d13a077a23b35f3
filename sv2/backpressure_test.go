package sv2_test

import (
	"bytes"
	"github.com/adit-pool/adit/stratum/srvconf"
	"net"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/codec"
)

// pipelined is how many requests the backpressure tests write in one go.
const pipelined = 10000

// anyTarget is the easiest max_target: the pool's difficulty applies.
var anyTarget = codec.U256(bytes.Repeat([]byte{0xff}, 32))

// plainClient speaks raw frames on the plaintext listener, so a whole run
// of requests can be written with one Write.
type plainClient struct {
	t  *testing.T
	nc net.Conn
	fc *sv2.PlainConn
}

func (e *testEnv) dialPlain() *plainClient {
	e.t.Helper()
	nc, err := net.Dial("tcp", e.srv.PlaintextAddr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { nc.Close() })
	return &plainClient{t: e.t, nc: nc, fc: sv2.NewPlainConn(nc, 1<<20)}
}

// pipeline writes msgs as frames in one Write from another goroutine (the
// test reads meanwhile); the channel yields the Write's error.
func (c *plainClient) pipeline(msgs ...codec.Message) <-chan error {
	c.t.Helper()
	var buf []byte
	for _, m := range msgs {
		var err error
		if buf, err = codec.AppendFrame(buf, m); err != nil {
			c.t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.nc.Write(buf)
		done <- err
	}()
	return done
}

func (c *plainClient) read() codec.Message {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, payload, err := c.fc.ReadFrame()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	m, err := codec.DecodeMessage(h, payload)
	if err != nil {
		c.t.Fatalf("decode %v: %v", h.Kind(), err)
	}
	return m
}

func setup(flags uint32) *codec.SetupConnection {
	return &codec.SetupConnection{Protocol: 0, MinVersion: 2, MaxVersion: 2, Flags: flags, Vendor: "proxy"}
}

func pipelineEnv(t *testing.T, cfg sv2.Config) (*testEnv, *share.Job) {
	t.Helper()
	b := newTestBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
	j := sharetest.Job(1, 1, time.Now(), sharetest.HardBits)
	b.Publish(j)
	cfg.PlaintextListen = "127.0.0.1:0"
	return startServer(t, cfg, b), j
}

// TestPipelinedOpenChannels: SetupConnection and 10,000
// OpenStandardMiningChannel in one write, with the smallest send queue.
// Every request is answered in order (success, then the channel's job and
// SetNewPrevHash, until the per-connection channel limit, then errors), a
// new tip afterwards reaches every channel (with standard jobs a fan-out
// of a thousand times the queue), and the connection is kept.
func TestPipelinedOpenChannels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint32
	}{{"group", 0}, {"standard jobs", sv2.FlagRequiresStandardJobs}} {
		t.Run(tc.name, func(t *testing.T) {
			e, job := pipelineEnv(t, sv2.Config{Limits: srvconf.Limits{SendQueue: 8}})
			c := e.dialPlain()
			msgs := []codec.Message{setup(tc.flags)}
			for i := 1; i <= pipelined; i++ {
				msgs = append(msgs, &codec.OpenStandardMiningChannel{RequestID: uint32(i), UserIdentity: "addr.w", MaxTarget: anyTarget})
			}
			written := c.pipeline(msgs...)
			if m, ok := c.read().(*codec.SetupConnectionSuccess); !ok {
				t.Fatalf("setup: %#v", m)
			}
			var channels []uint32
			var group uint32
			for i := 1; i <= pipelined; i++ {
				switch m := c.read().(type) {
				case *codec.OpenStandardMiningChannelSuccess:
					if m.RequestID != uint32(i) || len(channels) != i-1 {
						t.Fatalf("request %d: success for %d after %d channels", i, m.RequestID, len(channels))
					}
					channels, group = append(channels, m.ChannelID), m.GroupChannelID
					if j, ok := c.read().(*codec.NewMiningJob); !ok || j.ChannelID != m.ChannelID || j.JobID != job.ID {
						t.Fatalf("request %d: want the channel's job, got %#v", i, j)
					}
					if p, ok := c.read().(*codec.SetNewPrevHash); !ok || p.ChannelID != m.ChannelID {
						t.Fatalf("request %d: want SetNewPrevHash, got %#v", i, p)
					}
				case *codec.OpenMiningChannelError:
					if m.RequestID != uint32(i) || m.ErrorCode != sv2.CodeChannelCapacityExhausted || len(channels) == 0 {
						t.Fatalf("request %d: %#v after %d channels", i, m, len(channels))
					}
				default:
					t.Fatalf("request %d: unexpected %#v", i, m)
				}
			}
			if err := <-written; err != nil {
				t.Fatal(err)
			}

			e.backend.Publish(sharetest.Job(2, 2, time.Now(), sharetest.HardBits))
			want := map[uint32]bool{group: true} // the group gets one extended job
			if tc.flags&sv2.FlagRequiresStandardJobs != 0 {
				want = map[uint32]bool{}
				for _, id := range channels {
					want[id] = true
				}
			}
			for n := len(want); n > 0; n-- {
				var id uint32
				switch m := c.read().(type) {
				case *codec.NewMiningJob:
					id = m.ChannelID
				case *codec.NewExtendedMiningJob:
					id = m.ChannelID
				default:
					t.Fatalf("want a job for the new tip, got %#v", m)
				}
				if p, ok := c.read().(*codec.SetNewPrevHash); !want[id] || !ok || p.ChannelID != id || p.JobID != 2 {
					t.Fatalf("job for channel %d (expected: %v), then %#v", id, want[id], p)
				}
				delete(want, id)
			}

			// Still served: UpdateChannel is answered with SetTarget.
			c.pipeline(&codec.UpdateChannel{ChannelID: channels[0], MaximumTarget: anyTarget})
			if m, ok := c.read().(*codec.SetTarget); !ok || m.ChannelID != channels[0] {
				t.Fatalf("UpdateChannel: %#v", m)
			}
			if got := e.metric("adit_sv2_disconnects_total", "reason", "slow_consumer"); got != 0 {
				t.Fatalf("%v slow consumers", got)
			}
		})
	}
}

// TestPipelinedSubmits: 10,000 SubmitSharesStandard in one write, each
// acknowledged at once (SuccessBatch 1) or refused, in sequence order, with
// a new job on the same tip published in the middle of the burst.
func TestPipelinedSubmits(t *testing.T) {
	e, job := pipelineEnv(t, sv2.Config{SuccessBatch: 1, Limits: srvconf.Limits{SendQueue: 8}})
	c := e.dialPlain()
	c.pipeline(setup(0), &codec.OpenStandardMiningChannel{RequestID: 1, UserIdentity: "addr.w", MaxTarget: anyTarget})
	c.read() // SetupConnection.Success
	open, ok := c.read().(*codec.OpenStandardMiningChannelSuccess)
	if !ok {
		t.Fatalf("open: %#v", open)
	}
	c.read() // NewMiningJob
	c.read() // SetNewPrevHash

	msgs := make([]codec.Message, 0, pipelined)
	for i := 1; i <= pipelined; i++ {
		msgs = append(msgs, &codec.SubmitSharesStandard{ChannelID: open.ChannelID, SequenceNumber: uint32(i),
			JobID: job.ID, Nonce: uint32(i), NTime: job.CurTime, Version: job.Version})
	}
	written := c.pipeline(msgs...)
	accepted, sawJob2 := 0, false
	for i := 1; i <= pipelined; {
		if i == pipelined/2 {
			e.backend.Publish(sharetest.Job(2, 1, time.Now(), sharetest.HardBits))
		}
		switch m := c.read().(type) {
		case *codec.SubmitSharesSuccess:
			if m.LastSequenceNumber != uint32(i) || m.NewSubmitsAcceptedCount != 1 {
				t.Fatalf("share %d: %#v", i, m)
			}
			accepted++
		case *codec.SubmitSharesError:
			if m.SequenceNumber != uint32(i) || m.ErrorCode != sv2.CodeDifficultyTooLow {
				t.Fatalf("share %d: %#v", i, m)
			}
		case *codec.NewExtendedMiningJob: // the group's job 2
			sawJob2 = sawJob2 || m.JobID == 2
			continue
		default:
			t.Fatalf("share %d: unexpected %#v", i, m)
		}
		i++
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if accepted == 0 || accepted != len(e.backend.Records()) {
		t.Fatalf("%d acknowledged, %d records", accepted, len(e.backend.Records()))
	}
	if !sawJob2 {
		if m, ok := c.read().(*codec.NewExtendedMiningJob); !ok || m.JobID != 2 {
			t.Fatalf("want job 2, got %#v", m)
		}
	}
	if got := e.metric("adit_sv2_disconnects_total", "reason", "slow_consumer"); got != 0 {
		t.Fatalf("%v slow consumers", got)
	}
}

// TestSlowConsumerDroppedV2: a client that never reads is dropped as a slow
// consumer once a write has waited WriteTimeout, although what overflows is
// pool-initiated work (a new tip for each of its thousands of channels),
// and everything it held is released.
func TestSlowConsumerDroppedV2(t *testing.T) {
	e, _ := pipelineEnv(t, sv2.Config{Limits: srvconf.Limits{WriteTimeout: 200 * time.Millisecond}})
	c := e.dialPlain()
	c.nc.(*net.TCPConn).SetReadBuffer(4096)
	msgs := []codec.Message{setup(sv2.FlagRequiresStandardJobs)}
	for i := 1; i <= 4096; i++ {
		msgs = append(msgs, &codec.OpenStandardMiningChannel{RequestID: uint32(i), UserIdentity: "addr.w", MaxTarget: anyTarget})
	}
	c.pipeline(msgs...)
	id := uint32(1)
	sharetest.Eventually(t, "slow consumer dropped", func() bool {
		id++ // jobs the session cannot take yet replace each other
		e.backend.Publish(sharetest.Job(id, byte(id), time.Now(), sharetest.HardBits))
		return e.metric("adit_sv2_disconnects_total", "reason", "slow_consumer") == 1
	})
	sharetest.Eventually(t, "session released", func() bool {
		st := e.backend.Stats()
		return st.Subscribers == 0 && st.Allocated == st.Released && e.metric("adit_sv2_channels", "type", "standard") == 0
	})
	if got := e.metric("adit_sv2_disconnects_total", "reason", "write_error"); got != 0 {
		t.Fatalf("%v write errors", got)
	}
}
