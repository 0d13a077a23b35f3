package sv2

import (
	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/codec"
)

// CustomJobs is the Job Declaration side of the mining server: it turns a
// SetCustomMiningJob into a private job of one extended channel. The pool
// implements it over sv2/jd; nil in Deps means Job Declaration is off.
type CustomJobs interface {
	// CustomJob checks m, sent on an extended channel opened by user whose
	// full extranonce (pool prefix and miner part) is extranonceSize bytes,
	// against the declaration its token names, consuming the token, and
	// returns the job to mine. A refusal returns a nil job, the
	// SetCustomMiningJob.Error code and details for the log.
	CustomJob(user string, extranonceSize int, m *codec.SetCustomMiningJob) (job *share.Job, code, details string)
}

// Codes of SetCustomMiningJob.Error and OpenMiningChannel.Error the mining
// server itself sends for Job Declaration (the JDS's own are in sv2/jd).
const (
	// CodeStandardChannelsNotSupportedForCustomWork refuses a standard
	// channel on a connection that set REQUIRES_WORK_SELECTION.
	CodeStandardChannelsNotSupportedForCustomWork = "standard-channels-not-supported-for-custom-work"
)

// onSetCustomMiningJob makes a declared job the private job of the
// extended channel it names: checked by CustomJobs (token, then every field
// against the declaration), added to the channel's validator session (which
// also records it as sent: a job on a new prev hash makes the channel's
// older jobs stale, as SetNewPrevHash does) and confirmed with
// SetCustomMiningJob.Success in the same owner step. The job is never
// broadcast.
func (s *session) onSetCustomMiningJob(m *codec.SetCustomMiningJob) {
	cj := s.srv.deps.CustomJobs
	refuse := func(code, details string) {
		s.srv.m.customJobs.WithLabelValues(code).Inc()
		s.log.Debug("sv2 custom job refused", zap.Uint32("channel", m.ChannelID), zap.String("code", code), zap.String("details", details))
		s.send(&codec.SetCustomMiningJobError{ChannelID: m.ChannelID, RequestID: m.RequestID, ErrorCode: code})
	}
	if cj == nil {
		refuse(CodeJDNotSupported, "job declaration is off")
		return
	}
	if s.flags&FlagRequiresWorkSelection == 0 {
		refuse(CodeUnsupportedFeatureFlags, "the connection did not set REQUIRES_WORK_SELECTION")
		return
	}
	ch := s.channels[m.ChannelID]
	if ch == nil || !ch.extended {
		refuse(CodeInvalidChannelID, "no extended channel with this id on the connection")
		return
	}
	job, code, details := cj.CustomJob(ch.user, len(ch.extranonce)+ch.enSize, m)
	if job == nil {
		if code == "" {
			code = CodeInternalError
		}
		refuse(code, details)
		return
	}
	ch.vs.AddPrivateJob(job)
	if !ch.custom {
		ch.custom = true
		s.srv.m.customActive.Inc()
	}
	s.srv.m.customJobs.WithLabelValues(resultAccepted).Inc()
	s.send(&codec.SetCustomMiningJobSuccess{ChannelID: m.ChannelID, RequestID: m.RequestID, JobID: job.ID})
}

// resultAccepted is the metric label of an accepted custom job.
const resultAccepted = "accepted"
