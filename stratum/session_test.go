package stratum

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/sharetest"
)

const easyDiff = 1e-6

func newEnv(t *testing.T, cfg Config, diff float64) (*testEnv, *share.Job) {
	t.Helper()
	now := time.Now()
	b := sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), diff)
	j := sharetest.Job(1, 1, now, sharetest.HardBits)
	b.Publish(j)
	return startServer(t, cfg, b), j
}

func TestSessionShares(t *testing.T) {
	e, job1 := newEnv(t, Config{}, easyDiff)
	m := dial(t, e.addr)

	m.wantResult(m.call(MethodPing), `"pong"`)
	m.wantError(m.call("mining.frobnicate", 1), CodeOther)
	m.wantError(m.call(MethodSubmit, "addr.w1", "00000001", "00000000", "00000000", "00000000"), CodeNotSubscribed)

	msg := m.call(MethodSubscribe, "test-miner/1.0")
	if !strings.HasPrefix(string(msg.Result), `[[["mining.set_difficulty","`) || !strings.HasSuffix(string(msg.Result), `",4]`) {
		t.Fatalf("subscribe result %s", msg.Result)
	}
	m.wantError(m.call(MethodSubmit, "addr.w1", "00000001", "00000000", "00000000", "00000000"), CodeUnauthorized)
	m.wantError(m.call(MethodAuthorize, "bad.w1", "x"), CodeUnauthorized)

	n := m.handshake("addr.w1")
	if m.diff != easyDiff {
		t.Fatalf("difficulty %v before first job, want %v", m.diff, easyDiff)
	}
	if n.JobID != job1.ID || n.PrevHash != job1.PrevHash || !n.Clean || n.NTime != job1.CurTime {
		t.Fatalf("first job %+v", n)
	}

	// A valid share, mined from the notify alone.
	good := m.mine(work{n: n}, easyDiff, true)
	m.wantResult(m.submit("addr.w1", good), "true")
	recs := e.backend.Records()
	if len(recs) != 1 || recs[0].Worker != (share.Worker{Address: "addr", Name: "w1"}) ||
		recs[0].Protocol != share.ProtocolV1 || recs[0].JobID != job1.ID || recs[0].AssignedDifficulty < easyDiff*0.99 {
		t.Fatalf("records %+v", recs)
	}

	m.wantError(m.submit("addr.w1", good), CodeDuplicate)
	m.wantError(m.submit("addr.w1", m.mine(work{n: n, nonce: good.nonce + 1}, easyDiff, false)), CodeLowDifficulty)
	m.wantError(m.submit("addr.other", m.mine(work{n: n, nonce: good.nonce + 1}, easyDiff, true)), CodeUnauthorized)

	bad := m.mine(work{n: n, nonce: good.nonce + 1, ntime: job1.MinTime - 1}, easyDiff, true)
	m.wantError(m.submit("addr.w1", bad), CodeOther)
	bad = m.mine(work{n: n, nonce: good.nonce + 1, ntime: uint32(time.Now().Unix()) + 3*3600}, easyDiff, true)
	m.wantError(m.submit("addr.w1", bad), CodeOther)

	// Version bits without a negotiated mask are rejected.
	vb := m.mine(work{n: n, nonce: good.nonce + 1, hasVersion: true, versionBits: 0x2000}, easyDiff, true)
	if msg := m.submit("addr.w1", vb); msg.Error == nil || msg.Error.Code != CodeOther || !strings.Contains(msg.Error.Message, "version") {
		t.Fatalf("version bits without mask: %s", msg.raw)
	}
	// After BIP310 negotiation the same share is fine; bits outside are not.
	cfg := m.call(MethodConfigure, []string{"version-rolling", "minimum-difficulty", "subscribe-extranonce", "x-unknown"},
		map[string]any{"version-rolling.mask": "ffffffff", "minimum-difficulty.value": easyDiff})
	var ext map[string]any
	if err := json.Unmarshal(cfg.Result, &ext); err != nil || ext["version-rolling"] != true ||
		ext["version-rolling.mask"] != "1fffe000" || ext["minimum-difficulty"] != true ||
		ext["subscribe-extranonce"] != true || ext["x-unknown"] != false {
		t.Fatalf("configure %s", cfg.raw)
	}
	m.wantResult(m.submit("addr.w1", vb), "true")
	vb2 := m.mine(work{n: n, nonce: vb.nonce + 1, hasVersion: true, versionBits: 0x1}, easyDiff, true)
	m.wantError(m.submit("addr.w1", vb2), CodeOther)

	// Wrong extranonce2 length.
	m.wantError(m.submit("addr.w1", work{n: n, en2: []byte{1}, ntime: n.NTime}), CodeOther)

	m.wantResult(m.call(MethodGetTransactions, FormatJobID(job1.ID)), "[]")
	m.wantError(m.call(MethodGetTransactions, "deadbeef"), CodeJobNotFound)
	m.wantResult(m.call(MethodExtranonceSub), "true")
	m.wantResult(m.call(MethodMultiVersion, 1), "true")

	// A second worker on the same connection.
	m.wantResult(m.call(MethodAuthorize, "addr.w2", ""), "true")
	m.wantResult(m.submit("addr.w2", m.mine(work{n: n, nonce: vb2.nonce + 1}, easyDiff, true)), "true")

	// A new chain tip makes job 1 stale and arrives as a clean job.
	stale := m.mine(work{n: n, nonce: vb2.nonce + 100}, easyDiff, true)
	e.backend.Publish(sharetest.Job(2, 2, time.Now(), sharetest.HardBits))
	n2 := m.nextJob()
	if n2.JobID != 2 || !n2.Clean {
		t.Fatalf("second job %+v", n2)
	}
	m.wantError(m.submit("addr.w1", stale), CodeJobNotFound)
	m.wantResult(m.submit("addr.w1", m.mine(work{n: n2}, easyDiff, true)), "true")

	// Same tip, not clean.
	e.backend.Publish(sharetest.Job(3, 2, time.Now(), sharetest.HardBits))
	if n3 := m.nextJob(); n3.JobID != 3 || n3.Clean {
		t.Fatalf("third job %+v", n3)
	}

	for reason, want := range map[string]float64{
		"accepted": 4, "duplicate": 1, "low_difficulty": 1, "unauthorized": 2, "not_subscribed": 1,
		"bad_ntime": 2, "bad_version": 2, "bad_extranonce": 1, "stale": 1,
	} {
		if got := e.metric("adit_shares_total", "protocol", "v1", "result", reason); got != want {
			t.Errorf("shares{result=%s} = %v, want %v", reason, got, want)
		}
	}
	if got := e.metric("adit_stratum_protocol_errors_total", "reason", perrUnknownMethod); got != 1 {
		t.Errorf("unknown method errors %v", got)
	}
	if got := e.metric("adit_connections", "protocol", "v1"); got != 1 {
		t.Errorf("connections gauge %v", got)
	}
}

// A retarget while the miner holds a job must not reject the honest share it
// was already working on; set_difficulty precedes the notify it applies to.
func TestDifficultyChangeInFlight(t *testing.T) {
	now := time.Now()
	b := sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), easyDiff)
	b.Retarget = func(n int) (float64, bool) { return 1e9, n == 1 }
	b.Publish(sharetest.Job(1, 1, now, sharetest.HardBits))
	e := startServer(t, Config{}, b)
	m := dial(t, e.addr)
	n := m.handshake("addr.w")

	first := m.mine(work{n: n}, easyDiff, true)
	inflight := m.mine(work{n: n, nonce: first.nonce + 1}, easyDiff, true)
	m.wantResult(m.submit("addr.w", first), "true")

	// The retarget: set_difficulty, then the same job again, not clean.
	msg := m.notification()
	if msg.Method != MethodSetDifficulty || !strings.Contains(msg.raw, "[1000000000]") {
		t.Fatalf("want set_difficulty first, got %s", msg.raw)
	}
	m.pending = append([]message{msg}, m.pending...)
	again := m.nextJob()
	if again.JobID != n.JobID || again.Clean || m.diff != 1e9 {
		t.Fatalf("resent job %+v at diff %v", again, m.diff)
	}
	m.wantResult(m.submit("addr.w", inflight), "true")

	// A new job is judged at the new difficulty.
	b.Publish(sharetest.Job(2, 1, time.Now(), sharetest.HardBits))
	n2 := m.nextJob()
	m.wantError(m.submit("addr.w", m.mine(work{n: n2}, easyDiff, true)), CodeLowDifficulty)
}

func TestSuggestDifficultyBeforeSubscribe(t *testing.T) {
	e, _ := newEnv(t, Config{}, 1)
	m := dial(t, e.addr)
	m.wantResult(m.call(MethodSuggestDifficulty, 0.0001), "true")
	m.handshake("addr.w")
	if m.diff != 0.0001 {
		t.Fatalf("difficulty %v", m.diff)
	}
	// suggest_target after subscribe retargets at once (diff1 target = 1).
	m.wantResult(m.call(MethodSuggestTarget, "00000000ffff0000000000000000000000000000000000000000000000000000"), "true")
	if m.nextJob(); m.diff != 1 {
		t.Fatalf("difficulty after suggest_target %v", m.diff)
	}
	m.wantError(m.call(MethodSuggestDifficulty, "abc"), CodeOther)
}

func TestAcceptErrorIsNotAcknowledged(t *testing.T) {
	e, _ := newEnv(t, Config{}, easyDiff)
	e.backend.FailAccepts(errors.New("disk full"))
	m := dial(t, e.addr)
	n := m.handshake("addr.w")
	msg := m.submit("addr.w", m.mine(work{n: n}, easyDiff, true))
	m.wantError(msg, CodeOther)
	if msg.Error.Message != "internal error" {
		t.Fatalf("message %q", msg.Error.Message)
	}
	if got := e.metric("adit_shares_total", "result", "internal_error"); got != 1 {
		t.Fatalf("internal_error shares %v", got)
	}
}

func TestMalformedLinesKeepConnection(t *testing.T) {
	e, _ := newEnv(t, Config{}, easyDiff)
	m := dial(t, e.addr)
	m.write(`{"id":1,"method":`)
	msg, err := m.read()
	if err != nil || msg.Error == nil || msg.Error.Code != CodeOther || string(msg.ID) != "null" {
		t.Fatalf("%v %s", err, msg.raw)
	}
	m.write(`{"result":true,"id":5}`) // a response: ignored, no reply
	m.wantResult(m.call(MethodPing), `"pong"`)
	if got := e.metric("adit_stratum_protocol_errors_total", "reason", perrMalformed); got != 1 {
		t.Fatalf("malformed count %v", got)
	}
}

// A repeated mining.subscribe resets a V1 client's difficulty and job
// (cpuminer, cgminer): the session must send set_difficulty and the current
// job, clean, again after the reply.
func TestResubscribeResendsWork(t *testing.T) {
	e, job1 := newEnv(t, Config{}, easyDiff)
	m := dial(t, e.addr)
	first := m.handshake("addr.w")

	again := m.call(MethodSubscribe, "test-miner/1.0", "1")
	var res []json.RawMessage
	if err := json.Unmarshal(again.Result, &res); err != nil || len(res) != 3 || string(res[1]) != `"`+hex.EncodeToString(m.en1)+`"` {
		t.Fatalf("second subscribe reply %s", again.raw)
	}
	m.diff = 1 // what cpuminer and cgminer assume after a subscribe reply
	msg := m.notification()
	if msg.Method != MethodSetDifficulty {
		t.Fatalf("want set_difficulty after the second subscribe, got %s", msg.raw)
	}
	m.pending = append([]message{msg}, m.pending...)
	n := m.nextJob()
	if n.JobID != job1.ID || !n.Clean || m.diff != easyDiff {
		t.Fatalf("job after resubscribe %+v at diff %v", n, m.diff)
	}
	// Work from before the repeat is still judged as it was sent.
	m.wantResult(m.submit("addr.w", m.mine(work{n: first}, easyDiff, true)), "true")
}

// bfgminer sends mining.suggest_target (and, with ?goalreset,
// mining.capabilities) with "id": null right before mining.subscribe and
// reads the next line as the subscribe reply. Notifications are handled but
// never answered.
func TestNotificationsGetNoReply(t *testing.T) {
	e, _ := newEnv(t, Config{}, easyDiff)
	m := dial(t, e.addr)
	m.write(`{"id": null, "method": "mining.suggest_target", "params": ["00000000ffff0000000000000000000000000000000000000000000000000000"]}`)
	m.write(`{"id":null,"method":"mining.capabilities","params":[{"notify":[],"set_difficulty":{},"set_goal":[],"malgo":{"SHA256d":{}}}]}`)
	m.write(`{"method":"mining.ping","params":[]}`)
	m.handshake("addr.w") // fails if any of the three was answered first
	if m.diff != 1 {
		t.Fatalf("difficulty %v, want the suggested 1", m.diff)
	}
	m.wantResult(m.call(MethodPing), `"pong"`)
	if got := e.metric("adit_stratum_protocol_errors_total", "reason", "unknown_method"); got != 1 {
		t.Fatalf("unknown_method errors %v, want 1 (counted, not answered)", got)
	}
}

// TestWideExtranonceArea: when jobs leave more extranonce room than
// Extranonce2Size after the allocated prefix (a pool widened for SV2
// extended channels), V1 miners still roll Extranonce2Size bytes: their
// extranonce1 is the prefix padded with zeros, and their shares validate.
func TestWideExtranonceArea(t *testing.T) {
	b := sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), easyDiff)
	b.Publish(sharetest.JobSized(1, 1, time.Now(), sharetest.HardBits, 4+16))
	e := startServer(t, Config{}, b)
	m := dial(t, e.addr)
	n := m.handshake("addr.w1")
	if m.en2Size != DefaultExtranonce2Size || len(m.en1) != 4+16-DefaultExtranonce2Size {
		t.Fatalf("extranonce1 %x, extranonce2_size %d", m.en1, m.en2Size)
	}
	for _, z := range m.en1[4:] {
		if z != 0 {
			t.Fatalf("extranonce1 %x is not the prefix padded with zeros", m.en1)
		}
	}
	m.wantResult(m.submit("addr.w1", m.mine(work{n: n}, easyDiff, true)), "true")
	if recs := e.backend.Records(); len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
}

// TestStaleOnlyAfterCleanNotify: a share on the old tip is stale (error 21)
// only once the session has queued the clean mining.notify of the new tip.
// The test holds the new job between the validator and the session
// (V.AddJob, then Deliver), so the window is deterministic.
func TestStaleOnlyAfterCleanNotify(t *testing.T) {
	// Network difficulty 4e-6, four times the share difficulty: some
	// shares are blocks, some are not.
	const bits = 0x1f03d08c
	now := time.Now()
	b := sharetest.NewBackend(share.NewValidator(share.ValidatorConfig{}), easyDiff)
	b.Publish(sharetest.Job(1, 1, now, bits))
	e := startServer(t, Config{}, b)
	m := dial(t, e.addr)
	n1 := m.handshake("addr.w1")

	job2 := sharetest.Job(2, 2, now, bits)
	b.V.AddJob(job2)
	if _, stale := b.V.Job(1); !stale {
		t.Fatal("the validator should have the new tip")
	}
	// The session has not been sent job 2: a share on job 1 is judged in
	// full, and a block on it is still a block candidate.
	blockDiff := share.TargetFromCompact(bits).Difficulty()
	blk := m.mine(work{n: n1}, blockDiff, true)
	m.wantResult(m.submit("addr.w1", blk), "true")
	if recs := b.Records(); len(recs) != 1 || !recs[0].Block || recs[0].JobID != 1 {
		t.Fatalf("records %+v: want one block on job 1", recs)
	}
	m.wantResult(m.submit("addr.w1", m.mine(work{n: n1, nonce: blk.nonce + 1}, easyDiff, true)), "true")

	b.Deliver(job2)
	n2 := m.nextJob()
	if n2.JobID != 2 || !n2.Clean {
		t.Fatalf("job after the new tip %+v, want job 2 clean", n2)
	}
	// A share that is no block: stale.
	w := m.mine(work{n: n1, nonce: blk.nonce + 100}, easyDiff, true)
	network := share.TargetFromCompact(bits)
	for h := m.hash(&w); network.Met(&h); h = m.hash(&w) {
		w = m.mine(work{n: n1, nonce: w.nonce + 1}, easyDiff, true)
	}
	late := m.submit("addr.w1", w)
	m.wantError(late, CodeJobNotFound)
	if late.Error.Message != "stale share" {
		t.Fatalf("after the clean notify: %s", late.raw)
	}
	m.wantResult(m.submit("addr.w1", m.mine(work{n: n2}, easyDiff, true)), "true")
	if got := e.metric("adit_shares_total", "protocol", "v1", "result", "stale"); got != 1 {
		t.Fatalf("stale shares %v, want 1", got)
	}
	if got := e.metric("adit_shares_total", "protocol", "v1", "result", "accepted"); got != 3 {
		t.Fatalf("accepted shares %v, want 3", got)
	}
}
