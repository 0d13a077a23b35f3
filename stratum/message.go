package stratum

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/adit-pool/adit/share"
)

// Stratum V1 error codes, sent as [code, "message", null].
const (
	CodeOther         = 20
	CodeJobNotFound   = 21 // job not found or stale
	CodeDuplicate     = 22
	CodeLowDifficulty = 23
	CodeUnauthorized  = 24
	CodeNotSubscribed = 25
)

// Request is a JSON-RPC request from a miner (or, for the client package, to
// a pool). ID is echoed verbatim in the reply; Params is usually an array.
type Request struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// Response is the reply to a Request. Exactly one of Result and Error is
// meaningful; Result is JSON null when Error is set.
type Response struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
}

// Notification is a server-to-client message (mining.notify,
// mining.set_difficulty, ...). It is sent with "id": null.
type Notification struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// MarshalJSON encodes the notification with "id": null.
func (n Notification) MarshalJSON() ([]byte, error) {
	params := n.Params
	if len(params) == 0 {
		params = json.RawMessage("[]")
	}
	return json.Marshal(struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}{json.RawMessage("null"), n.Method, params})
}

// Error is a Stratum V1 error, encoded as [code, "message", null].
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("stratum error %d: %s", e.Code, e.Message) }

// MarshalJSON encodes the error as [code, "message", null].
func (e *Error) MarshalJSON() ([]byte, error) {
	return appendError(nil, e), nil
}

// UnmarshalJSON accepts [code, "message", traceback] and, for tolerance of
// other pools, {"code": c, "message": "m"}.
func (e *Error) UnmarshalJSON(b []byte) error {
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err == nil {
		if len(arr) < 2 {
			return errors.New("stratum: error array too short")
		}
		if err := json.Unmarshal(arr[0], &e.Code); err != nil {
			return fmt.Errorf("stratum: error code: %w", err)
		}
		return json.Unmarshal(arr[1], &e.Message)
	}
	var obj struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("stratum: error value: %w", err)
	}
	e.Code, e.Message = obj.Code, obj.Message
	return nil
}

func appendError(dst []byte, e *Error) []byte {
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, int64(e.Code), 10)
	dst = append(dst, ',')
	dst = appendJSONString(dst, e.Message)
	return append(dst, ",null]"...)
}

// RejectError maps a share reject reason to its Stratum V1 error code and
// message. Reasons without a dedicated code map to 20.
func RejectError(r share.RejectReason) (code int, message string) {
	switch r {
	case share.RejectJobNotFound:
		return CodeJobNotFound, "job not found"
	case share.RejectStale:
		return CodeJobNotFound, "stale share"
	case share.RejectDuplicate:
		return CodeDuplicate, "duplicate share"
	case share.RejectLowDifficulty:
		return CodeLowDifficulty, "low difficulty share"
	case share.RejectUnauthorized:
		return CodeUnauthorized, "unauthorized worker"
	case share.RejectNotSubscribed:
		return CodeNotSubscribed, "not subscribed"
	case share.RejectBadExtranonce:
		return CodeOther, "invalid extranonce2"
	case share.RejectBadNTime:
		return CodeOther, "invalid ntime"
	case share.RejectBadVersion:
		return CodeOther, "invalid version bits"
	case share.RejectInternal:
		return CodeOther, "internal error"
	}
	return CodeOther, "other error"
}

// AppendResponse appends one response line (with "\n") to dst. result must be
// valid JSON (nil means null); when e is non-nil result is sent as null.
func AppendResponse(dst []byte, id json.RawMessage, result []byte, e *Error) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendRaw(dst, id)
	dst = append(dst, `,"result":`...)
	if e != nil {
		dst = append(dst, `null,"error":`...)
		dst = appendError(dst, e)
	} else {
		dst = appendRaw(dst, result)
		dst = append(dst, `,"error":null`...)
	}
	return append(dst, "}\n"...)
}

// appendNotificationHead appends `{"id":null,"method":"<m>","params":`.
func appendNotificationHead(dst []byte, method string) []byte {
	dst = append(dst, `{"id":null,"method":`...)
	dst = appendJSONString(dst, method)
	return append(dst, `,"params":`...)
}

func appendRaw(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hexdigits = "0123456789abcdef"
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
