package stratum

import (
	"context"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
)

// onSubmit judges one mining.submit. An accepted share is acknowledged only
// after Backend.Accept has made it durable; then vardiff may retarget.
func (s *session) onSubmit(ctx context.Context) {
	if s.vs == nil {
		s.rejectShare(share.RejectNotSubscribed)
		return
	}
	if len(s.workers) == 0 {
		s.rejectShare(share.RejectUnauthorized)
		return
	}
	worker, err := ParseSubmit(s.req.Params, s.en2Size, s.en2[:], &s.sub)
	if err != nil {
		se := err.(*SubmitError)
		if r := se.Reason(); r != share.Accepted {
			s.rejectShare(r)
			return
		}
		s.protocolError(s.req.ID, perrBadParams, se.Error())
		return
	}
	w, ok := s.workers[string(worker)]
	if !ok {
		s.rejectShare(share.RejectUnauthorized)
		return
	}
	res := &s.res
	s.vs.Validate(&s.sub, res)
	if !res.Accepted() {
		s.rejectShare(res.Reason)
		return
	}
	now := s.srv.deps.Now()
	rec := share.NewRecord(now, w, share.ProtocolV1, s.remote, res)
	if err := s.srv.deps.Backend.Accept(ctx, &rec, res); err != nil {
		s.log.Error("stratum share not recorded", zap.Error(err), zap.Uint32("job", res.Job.ID), zap.Bool("block", res.Block))
		s.rejectShare(share.RejectInternal)
		return
	}
	if res.Block {
		s.log.Info("stratum block candidate", zap.Uint32("job", res.Job.ID), zap.Int64("height", res.Job.Height))
	}
	s.srv.m.share(share.Accepted)
	s.reply(s.req.ID, resultTrue)
	if next, changed := s.vardiff.OnShare(now); changed {
		s.setDifficulty(next)
	}
}

// rejectShare counts a rejected share and replies with its error.
func (s *session) rejectShare(r share.RejectReason) {
	s.srv.m.share(r)
	code, msg := RejectError(r)
	s.replyError(s.req.ID, code, msg)
}
