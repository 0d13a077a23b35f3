package stratum

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/adit-pool/adit/share"
)

// Notify is the content of a mining.notify message in protocol-neutral
// form: PrevHash and MerkleBranch are in internal (header) byte order.
type Notify struct {
	JobID        uint32
	PrevHash     [32]byte
	Coinb1       []byte
	Coinb2       []byte
	MerkleBranch [][32]byte
	Version      uint32
	Bits         uint32
	NTime        uint32
	Clean        bool
}

// NotifyFromJob returns the notify content for j. The slices alias j.
func NotifyFromJob(j *share.Job, clean bool) Notify {
	return Notify{
		JobID:        j.ID,
		PrevHash:     j.PrevHash,
		Coinb1:       j.CoinbasePrefix,
		Coinb2:       j.CoinbaseSuffix,
		MerkleBranch: j.MerkleBranch,
		Version:      j.Version,
		Bits:         j.Bits,
		NTime:        j.CurTime,
		Clean:        clean,
	}
}

// FormatJobID is the V1 job_id for a share.Job ID: 8 lowercase hex chars.
func FormatJobID(id uint32) string {
	var b [8]byte
	return string(appendHex32(b[:0], id))
}

// PrevHashV1 converts an internal-order hash to the V1 wire order: each
// 4-byte word byte-swapped. The conversion is its own inverse.
func PrevHashV1(h [32]byte) [32]byte {
	var out [32]byte
	for i := 0; i < 32; i += 4 {
		binary.BigEndian.PutUint32(out[i:], binary.LittleEndian.Uint32(h[i:]))
	}
	return out
}

// AppendNotify appends a complete mining.notify line (with "\n") to dst.
func AppendNotify(dst []byte, n *Notify) []byte {
	dst = appendNotificationHead(dst, MethodNotify)
	dst = append(dst, `["`...)
	dst = appendHex32(dst, n.JobID)
	dst = append(dst, `","`...)
	ph := PrevHashV1(n.PrevHash)
	dst = hex.AppendEncode(dst, ph[:])
	dst = append(dst, `","`...)
	dst = hex.AppendEncode(dst, n.Coinb1)
	dst = append(dst, `","`...)
	dst = hex.AppendEncode(dst, n.Coinb2)
	dst = append(dst, `",[`...)
	for i := range n.MerkleBranch {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = hex.AppendEncode(dst, n.MerkleBranch[i][:])
		dst = append(dst, '"')
	}
	dst = append(dst, `],"`...)
	dst = appendHex32(dst, n.Version)
	dst = append(dst, `","`...)
	dst = appendHex32(dst, n.Bits)
	dst = append(dst, `","`...)
	dst = appendHex32(dst, n.NTime)
	dst = append(dst, `",`...)
	dst = strconv.AppendBool(dst, n.Clean)
	return append(dst, "]}\n"...)
}

// ErrBadNotify reports malformed mining.notify params.
var ErrBadNotify = errors.New("stratum: malformed mining.notify params")

// ParseNotify decodes mining.notify params (the JSON array). It allocates
// the coinbase parts and branch; it is meant for clients and tests.
func ParseNotify(params []byte) (Notify, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(params, &raw); err != nil || len(raw) < 9 {
		return Notify{}, ErrBadNotify
	}
	var s [8]string
	for i, k := range []int{0, 1, 2, 3, 5, 6, 7} {
		if err := json.Unmarshal(raw[k], &s[i]); err != nil {
			return Notify{}, fmt.Errorf("%w: param %d: %v", ErrBadNotify, k, err)
		}
	}
	var n Notify
	var err error
	if n.JobID, err = parseHex32(s[0], 8); err != nil {
		return Notify{}, fmt.Errorf("%w: job_id", ErrBadNotify)
	}
	ph, err := hex.DecodeString(s[1])
	if err != nil || len(ph) != 32 {
		return Notify{}, fmt.Errorf("%w: prevhash", ErrBadNotify)
	}
	n.PrevHash = PrevHashV1([32]byte(ph))
	if n.Coinb1, err = hex.DecodeString(s[2]); err != nil {
		return Notify{}, fmt.Errorf("%w: coinb1", ErrBadNotify)
	}
	if n.Coinb2, err = hex.DecodeString(s[3]); err != nil {
		return Notify{}, fmt.Errorf("%w: coinb2", ErrBadNotify)
	}
	var branch []string
	if err := json.Unmarshal(raw[4], &branch); err != nil {
		return Notify{}, fmt.Errorf("%w: merkle_branch", ErrBadNotify)
	}
	for _, b := range branch {
		node, err := hex.DecodeString(b)
		if err != nil || len(node) != 32 {
			return Notify{}, fmt.Errorf("%w: merkle_branch node", ErrBadNotify)
		}
		n.MerkleBranch = append(n.MerkleBranch, [32]byte(node))
	}
	if n.Version, err = parseHex32(s[4], 8); err != nil {
		return Notify{}, fmt.Errorf("%w: version", ErrBadNotify)
	}
	if n.Bits, err = parseHex32(s[5], 8); err != nil {
		return Notify{}, fmt.Errorf("%w: nbits", ErrBadNotify)
	}
	if n.NTime, err = parseHex32(s[6], 8); err != nil {
		return Notify{}, fmt.Errorf("%w: ntime", ErrBadNotify)
	}
	if err := json.Unmarshal(raw[8], &n.Clean); err != nil {
		return Notify{}, fmt.Errorf("%w: clean_jobs", ErrBadNotify)
	}
	return n, nil
}

// AppendSetDifficulty appends a mining.set_difficulty line. Difficulties are
// written in plain decimal (0.0001, never 1e-04) for picky firmware.
func AppendSetDifficulty(dst []byte, d float64) []byte {
	dst = appendNotificationHead(dst, MethodSetDifficulty)
	dst = append(dst, '[')
	dst = strconv.AppendFloat(dst, d, 'f', -1, 64)
	return append(dst, "]}\n"...)
}

// AppendSetExtranonce appends a mining.set_extranonce line.
func AppendSetExtranonce(dst []byte, extranonce1 []byte, extranonce2Size int) []byte {
	dst = appendNotificationHead(dst, MethodSetExtranonce)
	dst = append(dst, `["`...)
	dst = hex.AppendEncode(dst, extranonce1)
	dst = append(dst, `",`...)
	dst = strconv.AppendInt(dst, int64(extranonce2Size), 10)
	return append(dst, "]}\n"...)
}

// AppendSetVersionMask appends a mining.set_version_mask line.
func AppendSetVersionMask(dst []byte, mask uint32) []byte {
	dst = appendNotificationHead(dst, MethodSetVersionMask)
	dst = append(dst, `["`...)
	dst = appendHex32(dst, mask)
	return append(dst, `"]}`+"\n"...)
}

// appendHex32 appends v as 8 lowercase big-endian hex chars.
func appendHex32(dst []byte, v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return hex.AppendEncode(dst, b[:])
}

var errBadHex32 = errors.New("stratum: bad 32-bit hex value")

// parseHex32 parses 1..maxLen big-endian hex digits (maxLen <= 8).
func parseHex32[T string | []byte](s T, maxLen int) (uint32, error) {
	if len(s) == 0 || len(s) > maxLen {
		return 0, errBadHex32
	}
	var v uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errBadHex32
		}
		v = v<<4 | uint32(d)
	}
	return v, nil
}
