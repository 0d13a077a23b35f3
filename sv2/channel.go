package sv2

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/sv2/codec"
)

// SetupConnection flags of the mining protocol (SV2-WIRE.md §3).
const (
	FlagRequiresStandardJobs   uint32 = 1 << 0 // client: no group channel, NewMiningJob per channel
	FlagRequiresWorkSelection  uint32 = 1 << 1 // client: custom jobs (Job Declaration)
	FlagRequiresVersionRolling uint32 = 1 << 2 // client: needs version rolling
)

// ProtocolVersion is the only Stratum V2 protocol version.
const ProtocolVersion = 2

// channel is one standard or extended channel; the owner goroutine owns it.
type channel struct {
	id         uint32
	extended   bool
	inGroup    bool
	user       string
	worker     share.Worker
	vs         *share.Session
	vardiff    share.Vardiff
	maxTarget  share.Target
	target     share.Target
	extranonce []byte // standard: the full extranonce; extended: the prefix
	enSize     int    // extended: the miner's extranonce size
	release    func() // extranonce release (extended channels), may be nil
	custom     bool   // extended: has had a custom (declared) job
	offline    func() // share.Presence, nil when the backend has none

	// Accepted shares not yet acknowledged.
	pending    uint32
	pendingSum float64
	lastSeq    uint32
}

// handleFrame handles one frame from the client: SetupConnection first,
// then extension frames (onExtensionFrame) and mining messages.
func (s *session) handleFrame(ctx context.Context, f frame) {
	if !s.setup {
		s.handleSetupFrame(f)
		return
	}
	if f.h.Extension() != 0 {
		s.onExtensionFrame(f)
		return
	}
	m, err := codec.DecodeMessage(f.h, f.payload)
	if err != nil {
		s.protocolError(perrDecode, err)
		return
	}
	switch m := m.(type) {
	case *codec.SubmitSharesStandard:
		s.onSubmitStandard(ctx, m)
	case *codec.SubmitSharesExtended:
		s.onSubmitExtended(ctx, m)
	case *codec.OpenStandardMiningChannel:
		s.onOpenStandard(m)
	case *codec.OpenExtendedMiningChannel:
		s.onOpenExtended(m)
	case *codec.UpdateChannel:
		s.onUpdateChannel(m)
	case *codec.CloseChannel:
		if _, ok := s.channels[m.ChannelID]; ok {
			s.flush(s.channels[m.ChannelID])
			s.closeChannel(m.ChannelID)
		}
	case *codec.SetCustomMiningJob:
		s.onSetCustomMiningJob(m)
	case *codec.SetupConnection:
		s.protocolError(perrDoubleSetup, nil)
	default:
		s.protocolError(perrUnexpected, fmt.Errorf("%s from a client", f.h.MsgType))
	}
}

// handleSetupFrame handles a frame that arrives before SetupConnection has
// succeeded: like the SRI pool, anything but a core SetupConnection (an
// extension frame included) ends the connection.
func (s *session) handleSetupFrame(f frame) {
	if f.h.Kind() != codec.Core(codec.TypeSetupConnection) {
		s.protocolError(perrNoSetup, fmt.Errorf("%v before SetupConnection", f.h.Kind()))
		return
	}
	m, err := codec.DecodeMessage(f.h, f.payload)
	if err != nil {
		s.protocolError(perrDecode, err)
		return
	}
	s.onSetup(m.(*codec.SetupConnection))
}

// onSetup answers SetupConnection as the SRI pool does: mining protocol
// only, version 2 within [min, max], work selection only with Job
// Declaration on (Deps.CustomJobs). A refusal is sent and the connection
// closed.
func (s *session) onSetup(m *codec.SetupConnection) {
	refuse := func(flags uint32, code string) {
		s.send(&codec.SetupConnectionError{Flags: flags, ErrorCode: code})
		s.protocolError(perrSetupRefused, fmt.Errorf("%s", code))
	}
	switch {
	case m.Protocol != uint8(codec.ProtocolMining):
		refuse(0, CodeUnsupportedProtocol)
		return
	case m.MinVersion > ProtocolVersion || m.MaxVersion < ProtocolVersion:
		refuse(0, CodeProtocolVersionMismatch)
		return
	case m.Flags&FlagRequiresWorkSelection != 0 && s.srv.deps.CustomJobs == nil:
		refuse(FlagRequiresWorkSelection, CodeUnsupportedFeatureFlags)
		return
	}
	s.setup, s.flags = true, m.Flags
	s.log.Debug("sv2 setup", zap.String("vendor", m.Vendor), zap.String("firmware", m.Firmware),
		zap.String("device", m.DeviceID), zap.Uint32("flags", m.Flags))
	s.send(&codec.SetupConnectionSuccess{UsedVersion: ProtocolVersion, Flags: 0})
}

// openCommon checks what both channel types share and returns the worker,
// the clamp target and the current job; ok false means an error was sent.
func (s *session) openCommon(reqID uint32, user string, hashrate float32, maxTarget codec.U256) (w share.Worker, mt share.Target, job *share.Job, ok bool) {
	fail := func(code string) (share.Worker, share.Target, *share.Job, bool) {
		s.send(&codec.OpenMiningChannelError{RequestID: reqID, ErrorCode: code})
		return share.Worker{}, share.Target{}, nil, false
	}
	if h := float64(hashrate); math.IsNaN(h) || math.IsInf(h, 0) || h < 0 {
		return fail(CodeInvalidNominalHashrate)
	}
	mt = share.TargetFromLE(maxTarget)
	if mt == (share.Target{}) {
		return fail(CodeMaxTargetOutOfRange)
	}
	if len(s.channels) >= maxChannels {
		return fail(CodeChannelCapacityExhausted)
	}
	w, err := s.srv.deps.Backend.Authorize(user, "")
	if err != nil {
		s.log.Debug("sv2 channel refused", zap.String("user", user), zap.Error(err))
		return fail(CodeUnknownUser)
	}
	if job = s.currentJob(); job == nil {
		return fail(CodeNoWorkAvailable)
	}
	return w, mt, job, true
}

// maxChannels bounds the channels one connection may hold open.
const maxChannels = 4096

// newChannel builds the channel's vardiff, target and validator session.
func (s *session) newChannel(extended bool, user string, w share.Worker, hashrate float32, mt share.Target, extranonce []byte) *channel {
	s.lastChanID++
	for s.lastChanID == 0 || s.lastChanID == s.groupID || s.channels[s.lastChanID] != nil {
		s.lastChanID++
	}
	ch := &channel{id: s.lastChanID, extended: extended, user: user, worker: w, maxTarget: mt,
		vardiff: s.srv.deps.Backend.NewVardiff(), extranonce: extranonce}
	if hashrate > 0 {
		ch.vardiff.Suggest(s.difficultyFor(hashrate))
	}
	ch.target = clampTarget(share.TargetFromDifficulty(ch.vardiff.Difficulty()), mt)
	ch.vs = s.srv.deps.Validator.NewSession(extranonce, ch.target)
	ch.vs.SetVersionMask(s.srv.cfg.VersionMask)
	if pr, ok := s.srv.deps.Backend.(share.Presence); ok {
		ch.offline = pr.Online(w, share.ProtocolV2)
	}
	s.channels[ch.id] = ch
	return ch
}

// difficultyFor converts a nominal hash rate (H/s) to the difficulty that
// yields SharesPerMinute shares.
func (s *session) difficultyFor(hashrate float32) float64 {
	return float64(hashrate) * 60 / s.srv.cfg.SharesPerMinute / (1 << 32)
}

// clampTarget returns the harder of t and max (a channel's target never
// exceeds the max_target the miner asked for).
func clampTarget(t, max share.Target) share.Target {
	if max.Less(t) {
		return max
	}
	return t
}

func (s *session) onOpenStandard(m *codec.OpenStandardMiningChannel) {
	if s.flags&FlagRequiresWorkSelection != 0 {
		// Custom jobs need the coinbase in the miner's hands.
		s.send(&codec.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: CodeStandardChannelsNotSupportedForCustomWork})
		return
	}
	w, mt, job, ok := s.openCommon(m.RequestID, m.UserIdentity, m.NominalHashRate, m.MaxTarget)
	if !ok {
		return
	}
	extranonce, err := s.std.next(s.srv.deps.Backend, job.ExtranonceSize)
	if err != nil {
		s.log.Warn("sv2 standard extranonce unavailable", zap.Error(err))
		s.send(&codec.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: CodeChannelCapacityExhausted})
		return
	}
	ch := s.newChannel(false, m.UserIdentity, w, m.NominalHashRate, mt, extranonce)
	if s.flags&FlagRequiresStandardJobs == 0 {
		if s.groupID == 0 {
			s.lastChanID++
			for s.lastChanID == 0 || s.channels[s.lastChanID] != nil {
				s.lastChanID++
			}
			s.groupID = s.lastChanID
			s.srv.m.channels.WithLabelValues(chanGroup).Inc()
		}
		ch.inGroup = true
		s.groupMembers++
	}
	s.srv.m.channels.WithLabelValues(chanStandard).Inc()
	s.send(&codec.OpenStandardMiningChannelSuccess{
		RequestID: m.RequestID, ChannelID: ch.id, Target: ch.target.LE(),
		ExtranoncePrefix: extranonce, GroupChannelID: s.groupID,
	})
	// Reference order: the job as a future job, then SetNewPrevHash
	// activating it with min_ntime.
	s.sendJob(ch, job, true)
	s.send(newPrevHash(ch.id, job))
}

func (s *session) onOpenExtended(m *codec.OpenExtendedMiningChannel) {
	if s.flags&FlagRequiresStandardJobs != 0 {
		s.send(&codec.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: CodeExtendedChannelsNotSupportedForStandardJobs})
		return
	}
	w, mt, job, ok := s.openCommon(m.RequestID, m.UserIdentity, m.NominalHashRate, m.MaxTarget)
	if !ok {
		return
	}
	prefix, release, err := s.srv.deps.Backend.AllocateExtranonce()
	if err != nil {
		s.log.Warn("sv2 extranonce allocation failed", zap.Error(err))
		s.send(&codec.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: CodeChannelCapacityExhausted})
		return
	}
	enSize := job.ExtranonceSize - len(prefix)
	if enSize < 1 || enSize > codec.MaxB032 {
		release()
		s.log.Error("sv2 extranonce layout invalid", zap.Int("extranonce_size", job.ExtranonceSize), zap.Int("prefix", len(prefix)))
		s.send(&codec.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: CodeInternalError})
		return
	}
	if int(m.MinExtranonceSize) > enSize {
		release()
		s.send(&codec.OpenMiningChannelError{RequestID: m.RequestID, ErrorCode: CodeMinExtranonceSizeTooLarge})
		return
	}
	ch := s.newChannel(true, m.UserIdentity, w, m.NominalHashRate, mt, prefix)
	ch.enSize, ch.release = enSize, release
	s.srv.m.channels.WithLabelValues(chanExtended).Inc()
	s.send(&codec.OpenExtendedMiningChannelSuccess{
		RequestID: m.RequestID, ChannelID: ch.id, Target: ch.target.LE(),
		ExtranonceSize: uint16(enSize), ExtranoncePrefix: prefix,
	})
	s.sendJob(ch, job, true)
	s.send(newPrevHash(ch.id, job))
}

// closeChannel forgets a channel and releases its extranonce.
func (s *session) closeChannel(id uint32) {
	ch := s.channels[id]
	if ch == nil {
		return
	}
	delete(s.channels, id)
	if ch.release != nil {
		ch.release()
	}
	if ch.offline != nil {
		ch.offline()
	}
	if ch.custom {
		s.srv.m.customActive.Dec()
	}
	if ch.extended {
		s.srv.m.channels.WithLabelValues(chanExtended).Dec()
	} else {
		s.srv.m.channels.WithLabelValues(chanStandard).Dec()
		if ch.inGroup {
			s.groupMembers--
		}
	}
}

func (s *session) onUpdateChannel(m *codec.UpdateChannel) {
	ch := s.channels[m.ChannelID]
	if ch == nil {
		s.send(&codec.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: CodeInvalidChannelID})
		return
	}
	if h := float64(m.NominalHashRate); math.IsNaN(h) || math.IsInf(h, 0) || h < 0 {
		s.send(&codec.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: CodeInvalidNominalHashrate})
		return
	}
	mt := share.TargetFromLE(m.MaximumTarget)
	if mt == (share.Target{}) {
		s.send(&codec.UpdateChannelError{ChannelID: m.ChannelID, ErrorCode: CodeMaxTargetOutOfRange})
		return
	}
	ch.maxTarget = mt
	d := ch.vardiff.Difficulty()
	if m.NominalHashRate > 0 {
		d = ch.vardiff.Suggest(s.difficultyFor(m.NominalHashRate))
	}
	if !s.setTarget(ch, d) {
		// As the SRI pool does: every accepted UpdateChannel is answered
		// with the channel's target, changed or not.
		s.send(&codec.SetTarget{ChannelID: ch.id, MaximumTarget: ch.target.LE()})
	}
}

// setTarget applies difficulty d (clamped to the channel's max_target):
// jobs already sent stay judged at the easier of their target and the new
// one; SetTarget tells the miner. It reports whether the target changed
// (and SetTarget was sent).
func (s *session) setTarget(ch *channel, d float64) bool {
	if !(d > 0) {
		return false
	}
	t := clampTarget(share.TargetFromDifficulty(d), ch.maxTarget)
	if t == ch.target {
		return false
	}
	ch.target = t
	ch.vs.SetTarget(t)
	s.send(&codec.SetTarget{ChannelID: ch.id, MaximumTarget: t.LE()})
	return true
}

// currentJob subscribes to jobs on first use and returns the newest job.
func (s *session) currentJob() *share.Job {
	if s.jobs == nil {
		s.jobs, s.cancelJobs = s.srv.deps.Backend.SubscribeJobs()
		select {
		case j := <-s.jobs:
			if j != nil {
				s.curJob, s.lastPrev = j, j.PrevHash
			}
		default:
		}
	}
	if s.curJob == nil {
		if j := s.srv.deps.Validator.Latest(); j != nil {
			s.curJob, s.lastPrev = j, j.PrevHash
		}
	}
	return s.curJob
}

// onJob sends a new job to every channel: to the group channel (one
// NewExtendedMiningJob for all its standard channels), to each standard
// channel outside the group (NewMiningJob with its merkle root) and to each
// extended channel. A job on a new chain tip is sent as a future job and
// activated by SetNewPrevHash, as the reference pool does; a job on the same
// tip is active at once (min_ntime set).
//
// Each channel's JobSent, its job message and its SetNewPrevHash are queued in
// this one owner step, so a share on an older tip is answered stale-share
// only after the SetNewPrevHash that made it stale is queued ahead of the
// answer (share.Session.JobSent); until then it is judged in full.
func (s *session) onJob(j *share.Job) {
	if j == nil || j == s.curJob {
		return
	}
	newTip := s.curJob == nil || j.PrevHash != s.lastPrev
	s.curJob, s.lastPrev = j, j.PrevHash
	if len(s.channels) == 0 {
		return
	}
	if s.groupMembers > 0 {
		for _, ch := range s.channels {
			if ch.inGroup {
				ch.vs.JobSent(j)
			}
		}
		s.send(extendedJob(s.groupID, j, newTip))
		if newTip {
			s.send(newPrevHash(s.groupID, j))
		}
	}
	for _, ch := range s.channels {
		if ch.inGroup {
			continue
		}
		if s.sendJob(ch, j, newTip) && newTip {
			s.send(newPrevHash(ch.id, j))
		}
	}
}

// jobMessages is the most onJob queues: a job and a SetNewPrevHash for the
// group channel and for each channel outside it.
func (s *session) jobMessages() int {
	n := len(s.channels) - s.groupMembers
	if s.groupMembers > 0 {
		n++
	}
	return 2 * n
}

// sendJob records j as sent on ch and queues the channel's job message.
func (s *session) sendJob(ch *channel, j *share.Job, future bool) bool {
	if ch.extended && len(ch.extranonce)+ch.enSize != j.ExtranonceSize ||
		!ch.extended && len(ch.extranonce) != j.ExtranonceSize {
		s.log.Error("sv2 job extranonce size differs from the channel's", zap.Uint32("job", j.ID), zap.Int("size", j.ExtranonceSize))
		return false
	}
	ch.vs.JobSent(j)
	if ch.extended {
		s.send(extendedJob(ch.id, j, future))
		return true
	}
	s.send(standardJob(ch.id, j, ch.extranonce, future))
	return true
}

// standardJob is NewMiningJob for a standard channel whose full extranonce
// is extranonce: merkle_root = fold(sha256d(prefix ‖ extranonce ‖ suffix)).
func standardJob(chID uint32, j *share.Job, extranonce []byte, future bool) *codec.NewMiningJob {
	return &codec.NewMiningJob{
		ChannelID:  chID,
		JobID:      j.ID,
		MinNTime:   minNTime(j, future),
		Version:    j.Version,
		MerkleRoot: StandardMerkleRoot(j, extranonce),
	}
}

// StandardMerkleRoot is the merkle root of j's block for a standard
// channel with the given full extranonce (raw sha256d order).
func StandardMerkleRoot(j *share.Job, extranonce []byte) [32]byte {
	return share.MerkleRoot(share.DoubleSHA256(j.Coinbase(extranonce)), j.MerkleBranch)
}

// extendedJob is NewExtendedMiningJob: the BIP141-stripped coinbase split
// around the extranonce (share.Job's prefix and suffix are already the
// non-witness serialization) and the merkle path. Version rolling is always
// allowed, as in the reference pool.
func extendedJob(chID uint32, j *share.Job, future bool) *codec.NewExtendedMiningJob {
	return &codec.NewExtendedMiningJob{
		ChannelID:             chID,
		JobID:                 j.ID,
		MinNTime:              minNTime(j, future),
		Version:               j.Version,
		VersionRollingAllowed: true,
		MerklePath:            j.MerkleBranch,
		CoinbaseTxPrefix:      j.CoinbasePrefix,
		CoinbaseTxSuffix:      j.CoinbaseSuffix,
	}
}

func minNTime(j *share.Job, future bool) *uint32 {
	if future {
		return nil
	}
	t := j.CurTime
	return &t
}

// newPrevHash activates job j on channel chID: min_ntime is the template
// time (SRI: header_timestamp).
func newPrevHash(chID uint32, j *share.Job) *codec.SetNewPrevHash {
	return &codec.SetNewPrevHash{ChannelID: chID, JobID: j.ID, PrevHash: j.PrevHash, MinNTime: j.CurTime, NBits: j.Bits}
}

// stdExtranonces hands out standard-channel extranonces: one prefix per
// connection from the Backend, followed by a big-endian counter filling the
// rest of the extranonce, so every channel's extranonce is unique. When the
// prefix fills the whole extranonce, each channel gets its own prefix.
type stdExtranonces struct {
	prefix   []byte
	release  []func()
	ctr      uint64
	capacity uint64
}

func (a *stdExtranonces) next(b share.Backend, size int) ([]byte, error) {
	if a.prefix == nil || a.ctr >= a.capacity {
		p, rel, err := b.AllocateExtranonce()
		if err != nil {
			return nil, err
		}
		if len(p) > size {
			rel()
			return nil, fmt.Errorf("sv2: extranonce prefix %d bytes exceeds the job's %d", len(p), size)
		}
		a.prefix = p
		a.release = append(a.release, rel)
		a.ctr = 1
		width := size - len(p)
		a.capacity = math.MaxUint64
		if width < 8 {
			a.capacity = 1 << (8 * width)
		}
		if width == 0 {
			a.ctr, a.capacity = 0, 1
		}
	}
	width := size - len(a.prefix)
	en := make([]byte, size)
	copy(en, a.prefix)
	var ctr [8]byte
	binary.BigEndian.PutUint64(ctr[:], a.ctr)
	if width <= 8 {
		copy(en[len(a.prefix):], ctr[8-width:])
	} else {
		copy(en[size-8:], ctr[:])
	}
	a.ctr++
	return en, nil
}

func (a *stdExtranonces) releaseAll() {
	for _, r := range a.release {
		r()
	}
	a.release = nil
}
