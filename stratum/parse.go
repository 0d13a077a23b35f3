package stratum

import (
	"encoding/json"
	"errors"
)

// Parse errors. They are reported to the miner as error 20 and counted as
// protocol errors; they never close the connection on their own.
var (
	ErrMalformedJSON  = errors.New("stratum: malformed JSON")
	ErrNotObject      = errors.New("stratum: request is not a JSON object")
	ErrMethodNotText  = errors.New("stratum: method is not a string")
	ErrParamsNotArray = errors.New("stratum: params is not an array")
)

// ParseRequest decodes one JSON line into req without copying: req.ID and
// req.Params alias line and are valid only as long as line is. Known method
// names do not allocate. Missing fields are left empty.
func ParseRequest(line []byte, req *Request) error {
	*req = Request{}
	if !json.Valid(line) {
		return ErrMalformedJSON
	}
	i := skipWS(line, 0)
	if line[i] != '{' {
		return ErrNotObject
	}
	i = skipWS(line, i+1)
	if line[i] == '}' {
		return nil
	}
	for {
		kEnd := skipValue(line, i)
		key := line[i+1 : kEnd-1]
		i = skipWS(line, kEnd)
		i = skipWS(line, i+1) // ':'
		vEnd := skipValue(line, i)
		val := line[i:vEnd]
		switch string(key) {
		case "id":
			req.ID = val
		case "method":
			if val[0] != '"' {
				return ErrMethodNotText
			}
			m, err := unquote(val)
			if err != nil {
				return err
			}
			req.Method = internMethod(m)
		case "params":
			req.Params = val
		}
		i = skipWS(line, vEnd)
		if line[i] == '}' {
			return nil
		}
		i = skipWS(line, i+1) // ','
	}
}

// Method names a session understands.
const (
	MethodSubscribe         = "mining.subscribe"
	MethodAuthorize         = "mining.authorize"
	MethodConfigure         = "mining.configure"
	MethodSubmit            = "mining.submit"
	MethodSuggestDifficulty = "mining.suggest_difficulty"
	MethodSuggestTarget     = "mining.suggest_target"
	MethodExtranonceSub     = "mining.extranonce.subscribe"
	MethodMultiVersion      = "mining.multi_version"
	MethodGetTransactions   = "mining.get_transactions"
	MethodPing              = "mining.ping"
	MethodNotify            = "mining.notify"
	MethodSetDifficulty     = "mining.set_difficulty"
	MethodSetExtranonce     = "mining.set_extranonce"
	MethodSetVersionMask    = "mining.set_version_mask"
)

// internMethod returns a constant string for known methods (no allocation).
func internMethod(b []byte) string {
	switch string(b) {
	case MethodSubmit:
		return MethodSubmit
	case MethodSubscribe:
		return MethodSubscribe
	case MethodAuthorize:
		return MethodAuthorize
	case MethodConfigure:
		return MethodConfigure
	case MethodSuggestDifficulty:
		return MethodSuggestDifficulty
	case MethodSuggestTarget:
		return MethodSuggestTarget
	case MethodExtranonceSub:
		return MethodExtranonceSub
	case MethodMultiVersion:
		return MethodMultiVersion
	case MethodGetTransactions:
		return MethodGetTransactions
	case MethodPing:
		return MethodPing
	case MethodNotify:
		return MethodNotify
	case MethodSetDifficulty:
		return MethodSetDifficulty
	case MethodSetExtranonce:
		return MethodSetExtranonce
	case MethodSetVersionMask:
		return MethodSetVersionMask
	}
	return string(b)
}

// errTooManyElems is returned by splitArray when dst is too short.
var errTooManyElems = errors.New("stratum: too many array elements")

// splitArray stores the raw elements of the JSON array raw in dst and returns
// how many there are; more than len(dst) is an error. raw must be valid JSON
// (callers check with json.Valid or got it from ParseRequest); on invalid
// input splitArray stays within bounds but its result is unspecified.
func splitArray(dst [][]byte, raw []byte) (int, error) {
	i := skipWS(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return 0, ErrParamsNotArray
	}
	i = skipWS(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return 0, nil
	}
	n := 0
	for i < len(raw) {
		if n == len(dst) {
			return n, errTooManyElems
		}
		end := skipValue(raw, i)
		dst[n] = raw[i:end]
		n++
		i = skipWS(raw, end)
		if i >= len(raw) || raw[i] == ']' {
			return n, nil
		}
		i = skipWS(raw, i+1) // ','
	}
	return n, ErrMalformedJSON
}

// unquote returns the contents of the JSON string literal v. Strings without
// escapes are returned as a sub-slice (no allocation).
func unquote(v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, errNotString
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, errNotString
			}
			return []byte(s), nil
		}
	}
	return inner, nil
}

var errNotString = errors.New("stratum: expected a JSON string")

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at b[i]. On
// valid JSON it is exact; on invalid input it stays within bounds.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// skipString returns the index just past the string literal starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}
