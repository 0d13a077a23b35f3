package stratum

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
)

// handleLine parses one line and dispatches it. Every request with an ID gets
// exactly one reply; a notification (ID absent or null) is handled without
// one. Unknown methods are an error reply, not a disconnect. A line that does
// not parse is answered with an error whose ID is null.
func (s *session) handleLine(ctx context.Context, line []byte) {
	req := &s.req
	if err := ParseRequest(line, req); err != nil {
		reason := perrMalformed
		switch err {
		case ErrNotObject:
			reason = perrNotObject
		case ErrMethodNotText:
			reason = perrBadParams
		}
		s.protocolError(nil, reason, "parse error")
		if s.badLines++; s.badLines >= maxBadLines {
			s.drop = discProtocolErrors
		}
		return
	}
	s.badLines = 0
	s.quiet = isNotification(req.ID)
	defer func() { s.quiet = false }()
	switch req.Method {
	case MethodSubmit:
		s.onSubmit(ctx)
	case MethodSubscribe:
		s.onSubscribe()
	case MethodAuthorize:
		s.onAuthorize()
	case MethodConfigure:
		s.onConfigure()
	case MethodSuggestDifficulty:
		s.onSuggestDifficulty()
	case MethodSuggestTarget:
		s.onSuggestTarget()
	case MethodExtranonceSub:
		s.extranonce = true
		s.reply(req.ID, resultTrue)
	case MethodMultiVersion:
		s.reply(req.ID, resultTrue)
	case MethodGetTransactions:
		s.onGetTransactions()
	case MethodPing:
		s.reply(req.ID, []byte(`"pong"`))
	case "":
		// A response or junk object without a method: nothing to answer.
		s.srv.m.protocolErrors.WithLabelValues(perrNoMethod).Inc()
	default:
		s.protocolError(req.ID, perrUnknownMethod, "unknown method")
	}
}

// isNotification reports whether a request ID makes the request a JSON-RPC
// notification: "id" absent or null. Such requests are handled but never
// answered. bfgminer sends mining.suggest_target and mining.capabilities with
// "id": null just before mining.subscribe and takes the next line as the
// subscribe reply, so an answer to them breaks its handshake.
func isNotification(id json.RawMessage) bool {
	return len(id) == 0 || string(id) == "null"
}

// params decodes the request's params array into raw elements (rare paths
// only; submit uses ParseSubmit).
func (s *session) params() []json.RawMessage {
	var p []json.RawMessage
	if len(s.req.Params) > 0 {
		_ = json.Unmarshal(s.req.Params, &p)
	}
	return p
}

func (s *session) onSubscribe() {
	if s.vs == nil {
		job := s.srv.deps.Validator.Latest()
		if job == nil {
			s.replyError(s.req.ID, CodeOther, "no work available yet")
			return
		}
		prefix, release, err := s.srv.deps.Backend.AllocateExtranonce()
		if err != nil {
			s.log.Warn("stratum extranonce allocation failed", zap.Error(err))
			s.replyError(s.req.ID, CodeOther, "no extranonce available")
			return
		}
		en2 := job.ExtranonceSize - len(prefix)
		if pad := en2 - s.srv.cfg.Extranonce2Size; pad > 0 {
			// A wide area (for SV2 extended channels): the miner rolls
			// Extranonce2Size bytes, the rest are zeros in extranonce1.
			prefix = append(prefix[:len(prefix):len(prefix)], make([]byte, pad)...)
			en2 -= pad
		}
		if en2 < 1 || en2 > MaxExtranonce2Size {
			release()
			s.log.Error("stratum extranonce layout invalid", zap.Int("extranonce_size", job.ExtranonceSize), zap.Int("prefix", len(prefix)))
			s.replyError(s.req.ID, CodeOther, "internal error")
			return
		}
		s.release, s.en2Size = release, en2
		s.vs = s.srv.deps.Validator.NewSession(prefix, share.TargetFromDifficulty(s.diff))
		s.vs.SetVersionMask(s.versionMask)
	}
	subID := strconv.FormatUint(s.id, 16)
	res := make([]byte, 0, 128)
	res = append(res, `[[["mining.set_difficulty","`...)
	res = append(res, subID...)
	res = append(res, `"],["mining.notify","`...)
	res = append(res, subID...)
	res = append(res, `"]],"`...)
	res = hex.AppendEncode(res, s.vs.Prefix())
	res = append(res, `",`...)
	res = strconv.AppendInt(res, int64(s.en2Size), 10)
	res = append(res, ']')
	s.reply(s.req.ID, res)
	if s.streaming {
		s.resendWork()
		return
	}
	s.maybeStream()
}

// resendWork answers a repeated mining.subscribe on a streaming session. V1
// clients reset their difficulty to 1 and drop their job on a subscribe reply
// (cpuminer's stratum_subscribe, cgminer's initiate_stratum), so the session
// sends set_difficulty and the current job again, clean, exactly as after the
// first handshake. The job's recorded target is left alone (no JobSent), so
// shares mined before the repeat stay judged as they were.
func (s *session) resendWork() {
	s.send(AppendSetDifficulty(nil, s.diff))
	if s.curJob != nil {
		s.send(s.srv.notify.line(s.curJob, true))
	}
}

func (s *session) onAuthorize() {
	p := s.params()
	var user, pass string
	if len(p) < 1 || json.Unmarshal(p[0], &user) != nil || user == "" {
		s.protocolError(s.req.ID, perrBadParams, "invalid authorize params")
		return
	}
	if len(p) > 1 {
		_ = json.Unmarshal(p[1], &pass) // absent, null or non-string: empty
	}
	if _, ok := s.workers[user]; !ok {
		if len(s.workers) >= maxWorkers {
			s.replyError(s.req.ID, CodeOther, "too many workers on this connection")
			return
		}
		w, err := s.srv.deps.Backend.Authorize(user, pass)
		if err != nil {
			msg := err.Error()
			if len(msg) > 200 {
				msg = msg[:200]
			}
			s.replyError(s.req.ID, CodeUnauthorized, msg)
			return
		}
		s.workers[user] = w
		if pr, ok := s.srv.deps.Backend.(share.Presence); ok {
			s.offline = append(s.offline, pr.Online(w, share.ProtocolV1))
		}
	}
	s.reply(s.req.ID, resultTrue)
	s.maybeStream()
}

// maybeStream starts difficulty and job delivery once the session is both
// subscribed and authorized: set_difficulty first, then the current job
// arrives on the subscription channel.
func (s *session) maybeStream() {
	if s.streaming || s.vs == nil || len(s.workers) == 0 {
		return
	}
	s.streaming = true
	s.send(AppendSetDifficulty(nil, s.diff))
	s.jobs, s.cancelJobs = s.srv.deps.Backend.SubscribeJobs()
}

// onJob sends a new job. clean_jobs is set when the job says so or the chain
// tip moved since the last job sent (and for the first job). JobSent and the
// queueing of the notify happen in this one owner step, so a share on an
// older tip is answered stale (error 21) only after the clean notify is
// queued ahead of that answer; until then it is judged in full.
func (s *session) onJob(j *share.Job) {
	if j == nil || j == s.curJob {
		return
	}
	clean := j.Clean || s.curJob == nil || j.PrevHash != s.lastPrev
	s.vs.JobSent(j)
	s.curJob, s.lastPrev = j, j.PrevHash
	s.send(s.srv.notify.line(j, clean))
}

// setDifficulty applies a new difficulty: the share target changes at once
// (jobs already sent stay judged at the easier of old and new), then
// set_difficulty is sent followed by the current job again, not clean, so the
// miner applies it. The re-sent job deliberately does not call JobSent, which
// would tighten the job's target and reject shares mined before the change.
func (s *session) setDifficulty(d float64) {
	if !(d > 0) || d == s.diff {
		return
	}
	s.diff = d
	if s.vs != nil {
		s.vs.SetTarget(share.TargetFromDifficulty(d))
	}
	if !s.streaming {
		return
	}
	s.send(AppendSetDifficulty(nil, d))
	if s.curJob != nil {
		s.send(s.srv.notify.line(s.curJob, false))
	}
}

func (s *session) onSuggestDifficulty() {
	p := s.params()
	var d float64
	if len(p) < 1 || !parseNumber(p[0], &d) || !(d > 0) {
		s.protocolError(s.req.ID, perrBadParams, "invalid difficulty")
		return
	}
	s.setDifficulty(s.vardiff.Suggest(d))
	s.reply(s.req.ID, resultTrue)
}

func (s *session) onSuggestTarget() {
	p := s.params()
	var h string
	if len(p) < 1 || json.Unmarshal(p[0], &h) != nil || len(h) == 0 || len(h) > 64 {
		s.protocolError(s.req.ID, perrBadParams, "invalid target")
		return
	}
	b, ok := new(big.Int).SetString(h, 16)
	if !ok || b.Sign() <= 0 {
		s.protocolError(s.req.ID, perrBadParams, "invalid target")
		return
	}
	s.setDifficulty(s.vardiff.Suggest(share.TargetFromBig(b).Difficulty()))
	s.reply(s.req.ID, resultTrue)
}

// parseNumber accepts a JSON number or a string holding one (some firmware
// quotes difficulties).
func parseNumber(raw json.RawMessage, d *float64) bool {
	if json.Unmarshal(raw, d) == nil {
		return true
	}
	var str string
	if json.Unmarshal(raw, &str) != nil {
		return false
	}
	v, err := strconv.ParseFloat(str, 64)
	*d = v
	return err == nil
}

// onConfigure answers BIP310 mining.configure.
func (s *session) onConfigure() {
	p := s.params()
	var exts []string
	opts := map[string]json.RawMessage{}
	if len(p) < 1 || json.Unmarshal(p[0], &exts) != nil {
		s.protocolError(s.req.ID, perrBadParams, "invalid configure params")
		return
	}
	if len(p) > 1 {
		_ = json.Unmarshal(p[1], &opts)
	}
	res := []byte{'{'}
	field := func(k string, v []byte) {
		if len(res) > 1 {
			res = append(res, ',')
		}
		res = appendJSONString(res, k)
		res = append(res, ':')
		res = append(res, v...)
	}
	for _, ext := range exts {
		switch ext {
		case "version-rolling":
			req := uint32(0xffffffff)
			var h string
			if raw, ok := opts["version-rolling.mask"]; ok && json.Unmarshal(raw, &h) == nil {
				if v, err := parseHex32(h, 8); err == nil {
					req = v
				}
			}
			s.versionMask = s.srv.cfg.VersionMask & req
			if s.vs != nil {
				s.vs.SetVersionMask(s.versionMask)
			}
			field("version-rolling", resultTrue)
			field("version-rolling.mask", append(appendHex32([]byte{'"'}, s.versionMask), '"'))
		case "minimum-difficulty":
			var d float64
			raw, ok := opts["minimum-difficulty.value"]
			if !ok || !parseNumber(raw, &d) || !(d > 0) {
				field("minimum-difficulty", []byte("false"))
				continue
			}
			s.vardiff.SetMinimum(d)
			s.setDifficulty(s.vardiff.Difficulty())
			field("minimum-difficulty", resultTrue)
		case "subscribe-extranonce":
			s.extranonce = true
			field("subscribe-extranonce", resultTrue)
		default:
			field(ext, []byte("false"))
		}
	}
	s.reply(s.req.ID, append(res, '}'))
}

func (s *session) onGetTransactions() {
	p := s.params()
	job := s.curJob
	if len(p) > 0 {
		var h string
		id, err := uint32(0), errors.New("bad")
		if json.Unmarshal(p[0], &h) == nil {
			id, err = parseHex32(h, 8)
		}
		if err != nil {
			s.protocolError(s.req.ID, perrBadParams, "invalid job id")
			return
		}
		job, _ = s.srv.deps.Validator.Job(id)
	}
	if job == nil {
		s.replyError(s.req.ID, CodeJobNotFound, "job not found")
		return
	}
	size := 2
	for _, tx := range job.Transactions {
		size += 2*len(tx) + 3
	}
	res := make([]byte, 0, size)
	res = append(res, '[')
	for i, tx := range job.Transactions {
		if i > 0 {
			res = append(res, ',')
		}
		res = append(res, '"')
		res = hex.AppendEncode(res, tx)
		res = append(res, '"')
	}
	s.reply(s.req.ID, append(res, ']'))
}
