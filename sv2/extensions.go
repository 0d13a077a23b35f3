package sv2

import (
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/adit-pool/adit/sv2/codec"
)

// onExtensionFrame handles a frame whose extension_type (without the channel
// bit) is not 0, after SetupConnection, as the SRI pool does
// (pool-apps/pool/src/lib/downstream/mod.rs and
// extensions_message_handler.rs):
//   - RequestExtensions is answered with negotiateExtensions' reply; the
//     connection stays open.
//   - A frame of an extension or message type the codec does not know is
//     ignored and counted as unknown_extension (SRI: "unknown message",
//     logged).
//   - RequestExtensions.Success or .Error from a client, or an Extensions
//     Negotiation payload that does not decode, is ignored and counted as
//     ignored_extension_message (SRI: unexpected-message and parse errors
//     of the extensions handler are log-only).
func (s *session) onExtensionFrame(f frame) {
	m, err := codec.DecodeMessage(f.h, f.payload)
	req, isReq := m.(*codec.RequestExtensions)
	switch {
	case errors.Is(err, codec.ErrUnknownMessage):
		s.ignoreFrame(perrExtension, f, err)
	case err != nil:
		s.ignoreFrame(perrExtensionIgnored, f, err)
	case !isReq:
		s.ignoreFrame(perrExtensionIgnored, f, fmt.Errorf("%v from a client", f.h.Kind()))
	default:
		s.log.Debug("sv2 RequestExtensions", zap.Uint16("request_id", req.RequestID),
			zap.Uint16s("requested", req.RequestedExtensions))
		s.send(negotiateExtensions(req, nil))
	}
}

// ignoreFrame counts a frame that is dropped without ending the connection
// under reason (a label of adit_sv2_protocol_errors_total).
func (s *session) ignoreFrame(reason string, f frame, err error) {
	s.srv.m.protocolErrors.WithLabelValues(reason).Inc()
	s.log.Debug("sv2 frame ignored", zap.String("reason", reason),
		zap.Uint16("extension_type", f.h.ExtensionType), zap.Uint8("msg_type", uint8(f.h.MsgType)), zap.Error(err))
}

// negotiateExtensions returns the answer to req by the SRI pool's rule,
// for a server that supports the extensions in supported and requires
// none: RequestExtensions.Success listing the requested extensions found in
// supported when there is at least one, otherwise RequestExtensions.Error
// listing every requested extension (all unsupported) and no required
// extensions. Either reply echoes req's request_id. Since nothing is
// required, the SRI pool's disconnect for missing required extensions never
// applies.
func negotiateExtensions(req *codec.RequestExtensions, supported []uint16) codec.Message {
	var ok, unsupported []uint16
	for _, ext := range req.RequestedExtensions {
		if slices.Contains(supported, ext) {
			ok = append(ok, ext)
		} else {
			unsupported = append(unsupported, ext)
		}
	}
	if len(ok) == 0 {
		return &codec.RequestExtensionsError{RequestID: req.RequestID, UnsupportedExtensions: unsupported}
	}
	return &codec.RequestExtensionsSuccess{RequestID: req.RequestID, SupportedExtensions: ok}
}
