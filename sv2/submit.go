package sv2

import (
	"context"
	"math"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/codec"
)

func (s *session) onSubmitStandard(ctx context.Context, m *codec.SubmitSharesStandard) {
	if ch := s.submitChannel(m.ChannelID, m.SequenceNumber, false); ch != nil {
		s.submit(ctx, ch, m.SequenceNumber, m.JobID, nil, m.NTime, m.Nonce, m.Version)
	}
}

func (s *session) onSubmitExtended(ctx context.Context, m *codec.SubmitSharesExtended) {
	if ch := s.submitChannel(m.ChannelID, m.SequenceNumber, true); ch != nil {
		s.submit(ctx, ch, m.SequenceNumber, m.JobID, m.Extranonce, m.NTime, m.Nonce, m.Version)
	}
}

// submitChannel returns the open channel a share names, or nil after
// replying invalid-channel-id: as in the reference pool, the channel must
// exist and be of the submission's kind (SubmitSharesExtended for
// extended channels, SubmitSharesStandard for standard ones).
func (s *session) submitChannel(id, seq uint32, extended bool) *channel {
	ch := s.channels[id]
	if ch == nil || ch.extended != extended {
		s.rejectShare(id, seq, share.RejectNotSubscribed)
		return nil
	}
	return ch
}

// submit judges one share. SV2 carries the full header version: it becomes
// the rolled bits under the pool mask (share.VersionBitsFromHeader), so a
// change outside the mask is invalid-non-rollable-version-bit. An accepted
// share is acknowledged only after Backend.Accept made it durable, in a
// batched SubmitShares.Success (at once when it is a block).
func (s *session) submit(ctx context.Context, ch *channel, seq, jobID uint32, extranonce []byte, ntime, nonce, version uint32) {
	jobVersion := version
	if j := ch.vs.Job(jobID); j != nil { // the channel's own jobs too
		jobVersion = j.Version
	}
	s.sub = share.Submission{
		JobID:       jobID,
		Extranonce:  extranonce,
		NTime:       ntime,
		Nonce:       nonce,
		VersionBits: share.VersionBitsFromHeader(jobVersion, ch.vs.VersionMask(), version),
		HasVersion:  true,
	}
	res := &s.res
	ch.vs.Validate(&s.sub, res)
	s.sub.Extranonce = nil
	if !res.Accepted() {
		s.rejectShare(ch.id, seq, res.Reason)
		return
	}
	now := s.srv.deps.Now()
	rec := share.NewRecord(now, ch.worker, share.ProtocolV2, s.remote, res)
	if err := s.srv.deps.Backend.Accept(ctx, &rec, res); err != nil {
		s.log.Error("sv2 share not recorded", zap.Error(err), zap.Uint32("job", res.Job.ID), zap.Bool("block", res.Block))
		s.rejectShare(ch.id, seq, share.RejectInternal)
		return
	}
	s.srv.m.share(share.Accepted)
	ch.pending++
	ch.pendingSum += res.AssignedDifficulty
	ch.lastSeq = seq
	switch {
	case res.Block:
		s.log.Info("sv2 block candidate", zap.Uint32("job", res.Job.ID), zap.Int64("height", res.Job.Height), zap.Uint32("channel", ch.id))
		s.flush(ch)
	case ch.pending >= uint32(s.srv.cfg.SuccessBatch):
		s.flush(ch)
	default:
		s.armBatch()
	}
	if next, changed := ch.vardiff.OnShare(now); changed {
		s.setTarget(ch, next)
	}
}

// rejectShare counts a rejected share and replies SubmitShares.Error.
func (s *session) rejectShare(chID, seq uint32, r share.RejectReason) {
	s.srv.m.share(r)
	s.send(&codec.SubmitSharesError{ChannelID: chID, SequenceNumber: seq, ErrorCode: RejectCode(r)})
}

// flush acknowledges ch's pending accepted shares.
func (s *session) flush(ch *channel) {
	if ch.pending == 0 {
		return
	}
	s.send(&codec.SubmitSharesSuccess{
		ChannelID:               ch.id,
		LastSequenceNumber:      ch.lastSeq,
		NewSubmitsAcceptedCount: ch.pending,
		NewSharesSum:            uint64(math.Round(ch.pendingSum)),
	})
	ch.pending, ch.pendingSum = 0, 0
}

func (s *session) flushAll() {
	for _, ch := range s.channels {
		s.flush(ch)
	}
}

// armBatch starts the SuccessInterval timer unless it runs already.
func (s *session) armBatch() {
	if s.batchArmed {
		return
	}
	if s.batch == nil {
		s.batch = newStoppedTimer()
	}
	s.batch.Reset(s.srv.cfg.SuccessInterval)
	s.batchArmed = true
}
