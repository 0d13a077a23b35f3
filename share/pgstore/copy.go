package pgstore

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/adit-pool/adit/share"
)

// shareColumns are the shares columns in COPY order.
func shareColumns() []string {
	return []string{
		"instance", "id", "time", "address", "worker", "protocol", "job_id", "height",
		"assigned_difficulty", "reached_difficulty", "network_difficulty", "is_block", "hash", "remote_addr",
		"declared",
	}
}

// copySQL is the COPY statement for table (a quoted identifier).
func copySQL(table string) string {
	return "COPY " + table + " (" + strings.Join(shareColumns(), ", ") + ") FROM STDIN (FORMAT binary)"
}

// pgEpochMicros is 2000-01-01T00:00:00Z in Unix microseconds, the epoch of
// Postgres timestamps.
const pgEpochMicros = 946_684_800_000_000

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// appendCopyBinary appends recs in Postgres binary COPY format (header,
// tuples, trailer) to dst. Encoding it directly instead of through
// pgx.CopyFrom's per-value type planning keeps the shipper's CPU cost per
// share to a few dozen nanoseconds.
func appendCopyBinary(dst []byte, recs []share.Record) []byte {
	be := binary.BigEndian
	dst = append(dst, copyHeader...)
	for i := range recs {
		r := &recs[i]
		dst = be.AppendUint16(dst, 15)
		dst = appendText(dst, r.Instance)
		dst = appendInt8(dst, int64(r.ID))
		dst = appendInt8(dst, r.Time.UnixMicro()-pgEpochMicros)
		dst = appendText(dst, r.Worker.Address)
		dst = appendText(dst, r.Worker.Name)
		dst = be.AppendUint32(dst, 2)
		dst = be.AppendUint16(dst, uint16(r.Protocol))
		dst = appendInt8(dst, int64(r.JobID))
		dst = appendInt8(dst, r.Height)
		dst = appendInt8(dst, int64(math.Float64bits(r.AssignedDifficulty)))
		dst = appendInt8(dst, int64(math.Float64bits(r.ReachedDifficulty)))
		dst = appendInt8(dst, int64(math.Float64bits(r.NetworkDifficulty)))
		dst = appendBool(dst, r.Block)
		dst = be.AppendUint32(dst, 32)
		dst = append(dst, r.Hash[:]...)
		dst = appendText(dst, r.RemoteAddr)
		dst = appendBool(dst, r.Declared)
	}
	return be.AppendUint16(dst, 0xffff) // trailer: field count -1
}

func appendText(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

func appendBool(dst []byte, v bool) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 1)
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendInt8(dst []byte, v int64) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 8)
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}
