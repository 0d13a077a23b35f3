package sharelog

import (
	"fmt"
	"io"
	"time"
)

// FsyncPolicy says when appended records are forced to stable storage.
type FsyncPolicy string

// Fsync policies.
const (
	// FsyncAlways fsyncs every group commit before its appenders return:
	// an acknowledged share survives power loss. The default.
	FsyncAlways FsyncPolicy = "always"
	// FsyncInterval writes every group at once but fsyncs at most every
	// Config.FsyncInterval; Append still waits for the fsync that covers
	// its record, so durability is the same as FsyncAlways with more
	// latency and fewer fsyncs.
	FsyncInterval FsyncPolicy = "interval"
	// FsyncNone never fsyncs: Append returns once the record is in the page
	// cache. UNSAFE: an OS crash or power loss loses acknowledged shares
	// and can leave sealed segments torn. A process crash (kill -9) loses
	// nothing. For benchmarks and throwaway setups only.
	FsyncNone FsyncPolicy = "none"
)

// DiskFullPolicy says what Append does when the log's filesystem is full.
type DiskFullPolicy string

// Disk-full policies.
const (
	// DiskFullReject makes Append return ErrDiskFull (nothing is written
	// and no id is used) while the filesystem has less than
	// Config.MinFreeBytes free or a write fails with ENOSPC. The pool then
	// refuses the share with a clear error, the
	// adit_sharelog_rejected_total{reason="disk_full"} counter rises and a
	// warning is logged once per episode. Appends succeed again as soon as
	// space is freed (for example when shipped segments are deleted). The
	// only policy, and the default.
	DiskFullReject DiskFullPolicy = "reject"
)

// Config configures a Log. The zero value of every field but Instance
// selects its default.
type Config struct {
	// Instance names this daemon instance. Required. Record.ID is unique
	// per instance; Append stamps Instance on records that have none and
	// rejects records naming another instance.
	Instance string
	// SegmentSize is the size at which a segment is sealed and the next
	// one started. Default 64 MiB; minimum 64 KiB.
	SegmentSize int64
	// Fsync is the fsync policy; default FsyncAlways.
	Fsync FsyncPolicy
	// FsyncInterval is the minimum time between fsyncs under
	// FsyncInterval; default 10 ms.
	FsyncInterval time.Duration
	// OnDiskFull is the disk-full policy; default DiskFullReject.
	OnDiskFull DiskFullPolicy
	// MinFreeBytes is the free space below which the log counts as full.
	// Default 64 MiB; negative disables the check (ENOSPC still rejects).
	MinFreeBytes int64
	// Retention is how long a fully shipped segment is kept after it was
	// sealed. Default 24 h; negative deletes shipped segments at once.
	Retention time.Duration
	// CleanupInterval is how often shipped segments past retention are
	// looked for; default 1 min.
	CleanupInterval time.Duration
	// MaxPendingBytes bounds the batch waiting for the writer; appenders
	// wait (up to their context) when it is full. Default 16 MiB.
	MaxPendingBytes int
	// NextIDFloor is the smallest id the log may assign next, e.g. the
	// highest id already in Postgres plus one, so ids never repeat even if
	// the log directory was lost. Default: only the recovered log counts.
	NextIDFloor uint64
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand supplies the random log id of a new log; default crypto/rand.
	Rand io.Reader
}

const (
	defaultSegmentSize = 64 << 20
	minSegmentSize     = 64 << 10
)

// withDefaults returns cfg with defaults filled in, or an error naming the
// first invalid field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Instance == "" {
		return cfg, fmt.Errorf("sharelog: config: Instance is required")
	}
	if len(cfg.Instance) > MaxStringLen {
		return cfg, fmt.Errorf("sharelog: config: Instance longer than %d bytes", MaxStringLen)
	}
	if cfg.SegmentSize == 0 {
		cfg.SegmentSize = defaultSegmentSize
	}
	if cfg.SegmentSize < minSegmentSize {
		return cfg, fmt.Errorf("sharelog: config: SegmentSize %d below the %d minimum", cfg.SegmentSize, minSegmentSize)
	}
	switch cfg.Fsync {
	case "":
		cfg.Fsync = FsyncAlways
	case FsyncAlways, FsyncInterval, FsyncNone:
	default:
		return cfg, fmt.Errorf("sharelog: config: Fsync %q: want always, interval or none", cfg.Fsync)
	}
	if cfg.FsyncInterval == 0 {
		cfg.FsyncInterval = 10 * time.Millisecond
	}
	if cfg.FsyncInterval < 0 {
		return cfg, fmt.Errorf("sharelog: config: FsyncInterval %v is negative", cfg.FsyncInterval)
	}
	switch cfg.OnDiskFull {
	case "":
		cfg.OnDiskFull = DiskFullReject
	case DiskFullReject:
	default:
		return cfg, fmt.Errorf("sharelog: config: OnDiskFull %q: want reject", cfg.OnDiskFull)
	}
	if cfg.MinFreeBytes == 0 {
		cfg.MinFreeBytes = 64 << 20
	}
	if cfg.Retention == 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.CleanupInterval <= 0 {
		cfg.CleanupInterval = time.Minute
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = 16 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}
