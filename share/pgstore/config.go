package pgstore

import (
	"fmt"
	"time"
)

// Config configures a Shipper. Zero fields take their defaults.
type Config struct {
	// MaxBatch is the most records per transaction. Default 10,000.
	MaxBatch int
	// InFlight is how many batch transactions run at once, each on its
	// own pool connection: their COPYs overlap, their commits stay in log
	// order (see Shipper). The shipper holds up to InFlight pool
	// connections; any pool size works (connections are taken in log
	// order), a pool smaller than InFlight+1 only limits the overlap.
	// Default 2; 1 still prepares the next batch while the current one is
	// in Postgres.
	InFlight int
	// FlushInterval is the longest a record waits for its batch to fill
	// once the shipper has caught up with the log. Default 100 ms.
	FlushInterval time.Duration
	// RetryMin and RetryMax bound the exponential backoff after a failed
	// batch (Postgres down, ...). Defaults 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// PartitionsAhead is how many daily partitions beyond today are kept
	// created. Default 3.
	PartitionsAhead int
	// Retention drops share partitions whose whole day is older than
	// this. Default 90 days; negative keeps shares forever. It must cover
	// the PPLNS window and block maturity.
	Retention time.Duration
	// MaintenanceInterval is how often partitions are created ahead and
	// dropped by retention. Default 1 h.
	MaintenanceInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	if c.MaxBatch == 0 {
		c.MaxBatch = 10_000
	}
	if c.MaxBatch < 0 {
		return c, fmt.Errorf("pgstore: config: MaxBatch %d is negative", c.MaxBatch)
	}
	if c.InFlight == 0 {
		c.InFlight = 2
	}
	if c.InFlight < 0 {
		return c, fmt.Errorf("pgstore: config: InFlight %d is negative", c.InFlight)
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 100 * time.Millisecond
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.RetryMax < c.RetryMin {
		return c, fmt.Errorf("pgstore: config: RetryMax %v below RetryMin %v", c.RetryMax, c.RetryMin)
	}
	if c.PartitionsAhead == 0 {
		c.PartitionsAhead = 3
	}
	if c.PartitionsAhead < 0 {
		return c, fmt.Errorf("pgstore: config: PartitionsAhead %d is negative", c.PartitionsAhead)
	}
	if c.Retention == 0 {
		c.Retention = 90 * 24 * time.Hour
	}
	if c.MaintenanceInterval <= 0 {
		c.MaintenanceInterval = time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
