package share

import "testing"

// privateJob is a job like the fixture's on prev, declared, with id.
func (f *fixture) privateJob(id uint32, prev [32]byte) *Job {
	j := newTestJob(f.r, jobSpec{id: id, prev: prev, levels: 5, enSize: 8, tagLen: 10,
		minTime: uint32(testNow.Unix()) - 600, netTgt: Target{}})
	j.Declared = true
	return j
}

func (f *fixture) checkOn(s *Session, id, nonce uint32, want RejectReason) Result {
	f.t.Helper()
	sub := f.sub(nonce)
	sub.JobID = id
	var res Result
	s.Validate(&sub, &res)
	if res.Reason != want {
		f.t.Fatalf("job %d: got %v, want %v", id, res.Reason, want)
	}
	return res
}

func TestPrivateJobOnlyOnItsSession(t *testing.T) {
	f := newFixture(t, ValidatorConfig{})
	other := f.v.NewSession([]byte{1, 1, 1, 1}, MaxTarget)
	other.JobSent(f.job)
	pj := f.privateJob(50, f.job.PrevHash)
	f.s.AddPrivateJob(pj)

	res := f.checkOn(f.s, 50, 1, Accepted)
	if res.Job != pj {
		t.Fatal("result names another job")
	}
	ref := refValidate(refInput{job: pj, prefix: f.s.Prefix(), target: MaxTarget, now: f.now, sub: Submission{
		JobID: 50, Extranonce: []byte{0, 0, 0, 1}, NTime: uint32(f.now.Unix()), Nonce: 1}, tipIsJob: true})
	if res.Header != ref.header || res.Hash != ref.hash || res.AssignedDifficulty != MaxTarget.Difficulty() {
		t.Fatal("private share differs from the reference")
	}
	rec := NewRecord(f.now, Worker{Address: "a"}, ProtocolV2, "r", &res)
	if !rec.Declared || rec.JobID != 50 || rec.Height != pj.Height || rec.Hash != res.Hash {
		t.Fatalf("record %+v", rec)
	}
	f.checkOn(f.s, 50, 1, RejectDuplicate)
	// The template job is still good on the same tip.
	tres := f.check(f.sub(2), Accepted)
	if rec := NewRecord(f.now, Worker{}, ProtocolV2, "", &tres); rec.Declared {
		t.Fatal("template share recorded as declared")
	}

	// Nowhere else: not on another session, not at the validator.
	f.checkOn(other, 50, 3, RejectJobNotFound)
	if j, _ := f.v.Job(50); j != nil || f.v.Latest() != f.job || other.Job(50) != nil {
		t.Fatal("private job visible outside its session")
	}
	if f.s.Job(50) != pj || f.s.Job(f.job.ID) != f.job || f.s.Job(99) != nil {
		t.Fatal("Session.Job")
	}
}

func TestPrivateJobRing(t *testing.T) {
	f := newFixture(t, ValidatorConfig{KeepJobs: 2})
	prev := f.job.PrevHash
	for id := uint32(100); id < 100+PrivateJobs+3; id++ {
		f.s.AddPrivateJob(f.privateJob(id, prev))
	}
	for id := uint32(100); id < 103; id++ {
		f.checkOn(f.s, id, id, RejectJobNotFound)
	}
	for id := uint32(103); id < 103+PrivateJobs; id++ {
		f.checkOn(f.s, id, id, Accepted)
	}
	// Template jobs keep coming (KeepJobs 2, so JobSent prunes its list):
	// private jobs on the same tip stay valid.
	for id := uint32(2); id < 8; id++ {
		j := newTestJob(f.r, jobSpec{id: id, prev: prev, levels: 2, enSize: 8})
		f.v.AddJob(j)
		f.s.JobSent(j)
	}
	f.checkOn(f.s, 103, 1000, Accepted)
	f.checkOn(f.s, 103+PrivateJobs-1, 1001, Accepted)
	f.checkOn(f.s, 1, 1002, RejectJobNotFound) // the template job fell out of the validator
	if len(f.s.sent) > f.v.cfg.KeepJobs+PrivateJobs+1 {
		t.Fatalf("%d sent entries", len(f.s.sent))
	}

	// A job re-added with a held id replaces it (a fresh duplicate filter).
	f.s.AddPrivateJob(f.privateJob(105, prev))
	f.checkOn(f.s, 105, 105, Accepted)
	f.checkOn(f.s, 104, 104, RejectDuplicate)
	if f.s.nPriv != PrivateJobs {
		t.Fatalf("%d private jobs", f.s.nPriv)
	}
}

func TestPrivateJobStaleRule(t *testing.T) {
	t.Run("private job on a new tip makes earlier work of its session stale", func(t *testing.T) {
		f := newFixture(t, ValidatorConfig{})
		other := f.v.NewSession([]byte{1, 1, 1, 1}, MaxTarget)
		other.JobSent(f.job)
		old := f.privateJob(60, f.job.PrevHash)
		f.s.AddPrivateJob(old)
		f.s.AddPrivateJob(f.privateJob(61, randHash(f.r)))
		f.check(f.sub(1), RejectStale)
		f.checkOn(f.s, 60, 2, RejectStale)
		f.checkOn(f.s, 61, 3, Accepted)
		f.checkOn(other, f.job.ID, 4, Accepted) // another session's epoch is its own
	})
	t.Run("private job on the same tip keeps earlier work", func(t *testing.T) {
		f := newFixture(t, ValidatorConfig{})
		f.s.AddPrivateJob(f.privateJob(60, f.job.PrevHash))
		f.s.AddPrivateJob(f.privateJob(61, f.job.PrevHash))
		f.check(f.sub(1), Accepted)
		f.checkOn(f.s, 60, 2, Accepted)
	})
	t.Run("template job on a new tip makes private jobs stale once sent", func(t *testing.T) {
		f := newFixture(t, ValidatorConfig{})
		f.s.AddPrivateJob(f.privateJob(60, f.job.PrevHash))
		j2 := newTestJob(f.r, jobSpec{id: 2, prev: randHash(f.r), levels: 2, enSize: 8})
		f.v.AddJob(j2)
		f.checkOn(f.s, 60, 1, Accepted) // not sent yet: judged in full
		f.s.JobSent(j2)
		f.checkOn(f.s, 60, 2, RejectStale)
	})
	t.Run("validator tip does not touch private jobs", func(t *testing.T) {
		f := newFixture(t, ValidatorConfig{})
		pj := f.privateJob(60, randHash(f.r))
		f.s.AddPrivateJob(pj)
		f.checkOn(f.s, 60, 1, Accepted)
		if j, _ := f.v.Job(f.job.ID); j != f.job {
			t.Fatal("template job gone")
		}
		f.check(f.sub(2), RejectStale) // the session moved to the private job's tip
	})
}

// TestValidateNoAlloc: a share on a cached extranonce, template or private
// job, allocates nothing (duplicate filters warmed up first).
func TestValidateNoAlloc(t *testing.T) {
	f := newFixture(t, ValidatorConfig{})
	f.s.SetVersionMask(0x1fffe000)
	f.s.AddPrivateJob(f.privateJob(70, f.job.PrevHash))
	for _, id := range []uint32{f.job.ID, 70} {
		sub := Submission{JobID: id, Extranonce: []byte{9, 9, 9, 9}, NTime: uint32(testNow.Unix()), HasVersion: true}
		var res Result
		n := uint32(0)
		share := func() {
			n++
			sub.Nonce, sub.VersionBits = n, (n*0x9e3779b1)&0x1fffe000
			f.s.Validate(&sub, &res)
			if res.Reason != Accepted {
				t.Fatal(res.Reason)
			}
		}
		for range 3000 {
			share()
		}
		if a := testing.AllocsPerRun(1000, share); a != 0 {
			t.Fatalf("job %d: %v allocs per share", id, a)
		}
	}
}
