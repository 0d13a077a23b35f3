// Package sharelog is the pool's local, append-only, durable share log. An
// accepted share is acknowledged to the miner only after Append returns,
// which happens once the record is written to a segment file (and fsynced,
// per the fsync policy) together with every other record appended at the
// same time (group commit). The shipper in share/pgstore reads the log with
// a Reader and copies it into Postgres; it reports its position back with
// MarkShipped so the log can show its lag and delete old segments.
//
// On disk: a directory of segment files named by a 20-digit sequence number
// (00000000000000000001.seg, ...), each a 32-byte header followed by
// records framed as length u32 ‖ crc32c u32 ‖ payload (a versioned binary
// encoding of share.Record, see AppendRecord). Only the newest segment is
// ever written. A crash can leave a torn record at its end; Open cuts it off
// (keeping the bytes in a ".torn-<offset>" file) and logs a warning, and no
// Reader ever returns a record whose length or checksum is wrong.
//
// Ids: the log assigns Record.ID, dense and increasing in log order, and
// recovers the last one on Open so ids keep increasing across restarts.
//
// Disk full: see DiskFullReject. Fsync: see FsyncPolicy.
package sharelog
