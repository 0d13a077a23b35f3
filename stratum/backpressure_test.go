package stratum

import (
	"fmt"
	"github.com/adit-pool/adit/stratum/srvconf"
	"github.com/adit-pool/adit/stratum/srvmetrics"
	"math"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
)

// pipelined is how many requests the backpressure tests write in one go.
const pipelined = 10000

// pipeline writes lines in one Write from another goroutine (the test reads
// meanwhile, as a pipelining proxy does); the returned channel yields the
// Write's error.
func (m *testMiner) pipeline(lines []byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := m.c.Write(lines)
		done <- err
	}()
	return done
}

// TestPipelinedSubmits: a miner flushing 10,000 queued shares in one write
// while reading promptly gets every reply, in order, and keeps its
// connection, with the smallest send queue so the queue is full most of
// the time. (The test's receive buffer stays the default: one far below the
// loopback MSS stalls TCP's window updates, and the client no longer reads
// promptly.) Difficulty changes and a new job in
// the middle add pool-initiated lines.
func TestPipelinedSubmits(t *testing.T) {
	halfDiff := math.Ldexp(1, -31) // about half of all hashes are shares
	b := sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), halfDiff)
	b.Publish(sharetest.Job(1, 1, time.Now(), sharetest.HardBits))
	b.Retarget = func(n int) (float64, bool) {
		if n%500 == 0 {
			return halfDiff / float64(1+n/500%2), true
		}
		return 0, false
	}
	e := startServer(t, Config{Limits: srvconf.Limits{SendQueue: 4}}, b)
	m := dial(t, e.addr)
	n := m.handshake("addr.w")

	var lines []byte
	for i := 1; i <= pipelined; i++ {
		lines = fmt.Appendf(lines, `{"id":%d,"method":"mining.submit","params":["addr.w","%s","%0*x","%08x","%08x"]}`+"\n",
			m.id+i, FormatJobID(n.JobID), 2*m.en2Size, 0, n.NTime, i)
	}
	first := m.id + 1
	written := m.pipeline(lines)
	accepted := 0
	for i := range pipelined {
		if i == pipelined/2 {
			b.Publish(sharetest.Job(2, 1, time.Now(), sharetest.HardBits))
		}
		if msg := m.response(first + i); msg.Error == nil {
			accepted++
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	m.id += pipelined
	if accepted == 0 || accepted != len(b.Records()) {
		t.Fatalf("%d accepted replies, %d records", accepted, len(b.Records()))
	}
	// The job published mid-burst was delivered, and the connection is kept.
	sawJob2 := false
	for _, msg := range m.pending {
		if msg.Method == MethodNotify {
			nn, err := ParseNotify(msg.Params)
			sawJob2 = sawJob2 || err == nil && nn.JobID == 2
		}
	}
	m.pending = nil
	if !sawJob2 {
		m.nextJob() // it may follow the last reply
	}
	m.wantResult(m.call(MethodPing), `"pong"`)
	if got := e.metric("adit_stratum_disconnects_total", "reason", srvmetrics.DiscSlowConsumer); got != 0 {
		t.Fatalf("%v slow consumers", got)
	}
}

// TestPipelinedSubscribes: 10,000 mining.subscribe on a streaming session
// in one write; each is answered, in order, and followed by its
// set_difficulty and clean notify (three lines per request, four-line
// queue).
func TestPipelinedSubscribes(t *testing.T) {
	e, job := newEnv(t, Config{Limits: srvconf.Limits{SendQueue: 4}}, easyDiff)
	m := dial(t, e.addr)
	m.handshake("addr.w")

	var lines []byte
	for i := 1; i <= pipelined; i++ {
		lines = fmt.Appendf(lines, `{"id":%d,"method":"mining.subscribe","params":["proxy/1.0"]}`+"\n", m.id+i)
	}
	first := m.id + 1
	written := m.pipeline(lines)
	for i := range pipelined {
		m.wantResult(m.response(first+i), m.subscribeResult())
		if len(m.pending) != 0 {
			t.Fatalf("request %d: notifications before its reply: %v", first+i, m.pending)
		}
		if msg := m.notification(); msg.Method != MethodSetDifficulty {
			t.Fatalf("request %d: want set_difficulty, got %s", first+i, msg.raw)
		}
		if msg := m.notification(); msg.Method != MethodNotify || !jobIs(msg, job.ID, true) {
			t.Fatalf("request %d: want the clean job, got %s", first+i, msg.raw)
		}
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	m.id += pipelined
	m.wantResult(m.call(MethodPing), `"pong"`)
	if got := e.metric("adit_stratum_disconnects_total", "reason", srvmetrics.DiscSlowConsumer); got != 0 {
		t.Fatalf("%v slow consumers", got)
	}
}

// subscribeResult is the result every subscribe of m gets.
func (m *testMiner) subscribeResult() string {
	return fmt.Sprintf(`[[["mining.set_difficulty","1"],["mining.notify","1"]],"%x",%d]`, m.en1, m.en2Size)
}

func jobIs(msg message, id uint32, clean bool) bool {
	n, err := ParseNotify(msg.Params)
	return err == nil && n.JobID == id && n.Clean == clean
}
