package stratum

import (
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/adit-pool/adit/share"
)

// MaxExtranonce2Size bounds the extranonce2 a session advertises and parses.
const MaxExtranonce2Size = 32

// SubmitError reports a malformed mining.submit parameter.
type SubmitError struct {
	// Field is the offending parameter: "params", "worker", "job_id",
	// "extranonce2", "ntime", "nonce" or "version_bits".
	Field string
}

func (e *SubmitError) Error() string { return "stratum: invalid mining.submit " + e.Field }

// Reason is the share reject reason the error counts as, or share.Accepted
// when it is a plain protocol error (not counted as a share).
func (e *SubmitError) Reason() share.RejectReason {
	switch e.Field {
	case "job_id":
		return share.RejectJobNotFound
	case "extranonce2":
		return share.RejectBadExtranonce
	case "ntime":
		return share.RejectBadNTime
	case "version_bits":
		return share.RejectBadVersion
	}
	return share.Accepted
}

// Pre-allocated errors so the reject path does not allocate.
var (
	errSubmitParams  = &SubmitError{Field: "params"}
	errSubmitWorker  = &SubmitError{Field: "worker"}
	errSubmitJobID   = &SubmitError{Field: "job_id"}
	errSubmitEN2     = &SubmitError{Field: "extranonce2"}
	errSubmitNTime   = &SubmitError{Field: "ntime"}
	errSubmitNonce   = &SubmitError{Field: "nonce"}
	errSubmitVersion = &SubmitError{Field: "version_bits"}
)

// ParseSubmit decodes mining.submit params [worker, job_id, extranonce2,
// ntime, nonce, (version_bits)] into sub. extranonce2 must be exactly en2Size
// bytes; it is decoded into en2Buf (len >= en2Size, owned by the caller) and
// sub.Extranonce aliases it. The returned worker aliases params unless it
// contained JSON escapes. Errors are *SubmitError. The common case does not
// allocate.
func ParseSubmit(params []byte, en2Size int, en2Buf []byte, sub *share.Submission) (worker []byte, err error) {
	*sub = share.Submission{}
	if !json.Valid(params) {
		return nil, errSubmitParams
	}
	var arr [8][]byte
	n, err := splitArray(arr[:], params)
	if err != nil || n < 5 {
		return nil, errSubmitParams
	}
	if worker, err = unquote(arr[0]); err != nil {
		return nil, errSubmitWorker
	}
	v, err := unquote(arr[1])
	if err != nil {
		return nil, errSubmitJobID
	}
	if sub.JobID, err = parseHex32(v, 8); err != nil {
		return nil, errSubmitJobID
	}
	v, err = unquote(arr[2])
	if err != nil || en2Size < 0 || en2Size > len(en2Buf) || len(v) != 2*en2Size {
		return nil, errSubmitEN2
	}
	if _, err := hex.Decode(en2Buf[:en2Size], v); err != nil {
		return nil, errSubmitEN2
	}
	sub.Extranonce = en2Buf[:en2Size]
	v, err = unquote(arr[3])
	if err != nil || len(v) != 8 {
		return nil, errSubmitNTime
	}
	if sub.NTime, err = parseHex32(v, 8); err != nil {
		return nil, errSubmitNTime
	}
	v, err = unquote(arr[4])
	if err != nil || len(v) != 8 {
		return nil, errSubmitNonce
	}
	if sub.Nonce, err = parseHex32(v, 8); err != nil {
		return nil, errSubmitNonce
	}
	if n >= 6 && string(arr[5]) != "null" {
		v, err = unquote(arr[5])
		if err != nil {
			return nil, errSubmitVersion
		}
		if sub.VersionBits, err = parseHex32(v, 8); err != nil {
			return nil, errSubmitVersion
		}
		sub.HasVersion = true
	}
	return worker, nil
}

// AppendSubmitRequest appends a mining.submit request line for sub (the
// client side of ParseSubmit).
func AppendSubmitRequest(dst []byte, id uint64, worker string, sub *share.Submission) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, `,"method":"mining.submit","params":[`...)
	dst = appendJSONString(dst, worker)
	dst = append(dst, `,"`...)
	dst = appendHex32(dst, sub.JobID)
	dst = append(dst, `","`...)
	dst = hex.AppendEncode(dst, sub.Extranonce)
	dst = append(dst, `","`...)
	dst = appendHex32(dst, sub.NTime)
	dst = append(dst, `","`...)
	dst = appendHex32(dst, sub.Nonce)
	dst = append(dst, '"')
	if sub.HasVersion {
		dst = append(dst, `,"`...)
		dst = appendHex32(dst, sub.VersionBits)
		dst = append(dst, '"')
	}
	return append(dst, "]}\n"...)
}
