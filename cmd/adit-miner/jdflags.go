package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/share"
)

// jdFlags are the Job Declaration (-jd) command-line flags.
type jdFlags struct {
	enabled  *bool
	addr     *string
	nodeURL  *string
	nodeUser *string
	nodePass *string
	solo     *string
	exclude  *string
	tag      *string
	retry    *time.Duration
	floor    *float64
}

func addJDFlags(fs *flag.FlagSet) *jdFlags {
	return &jdFlags{
		enabled:  fs.Bool("jd", false, "Job Declaration mode: build jobs from the own node (-node-url), declare them to the pool's JDS (-jd-pool) and mine them on an extended channel of the pool (-pool/-sv2-pool, -authority-key); solo-mine on the own node to -solo-address while the pool refuses or is away"),
		addr:     fs.String("jd-pool", "", "-jd: the pool's Job Declaration Server host:port"),
		nodeURL:  fs.String("node-url", "", "-jd: the own node's RPC URL (btcd or Bitcoin Core), e.g. http://127.0.0.1:18334"),
		nodeUser: fs.String("node-user", "", "-jd: the own node's RPC user (default $ADIT_NODE_USER)"),
		nodePass: fs.String("node-pass", "", "-jd: the own node's RPC password (default $ADIT_NODE_PASS)"),
		solo:     fs.String("solo-address", "", "-jd: the address solo-mined blocks pay (fallback)"),
		exclude:  fs.String("exclude-txid", "", "-jd: comma-separated txids to leave out of declared jobs (with their descendants)"),
		tag:      fs.String("jd-tag", "/adit-jdc/", "-jd: coinbase scriptSig tag"),
		retry:    fs.Duration("jd-retry", 5*time.Second, "-jd: pause between attempts to return to the pool while solo mining"),
		floor:    fs.Float64("jd-block-floor", 0, "-jd, regtest and tests: a pool share is also a block only at this difficulty or above; set it to the pool's [regtest] block_floor_difficulty so miner and pool agree on which shares are blocks (0: the network target alone)"),
	}
}

// apply validates the JD flags and sets fc.JD; -jd makes the single miner
// speak Stratum V2 on an extended channel.
func (f *jdFlags) apply(fc *fleetConfig) error {
	if !*f.enabled {
		return nil
	}
	switch {
	case fc.Miners != 1:
		return errors.New("-jd runs one miner (no -fleet)")
	case fc.V2 == nil:
		return errors.New("-jd needs Stratum V2 to the pool: -protocol v2 (or -sv2) with -authority-key or -insecure-skip-verify")
	case *f.addr == "":
		return errors.New("-jd needs -jd-pool (the pool's Job Declaration Server)")
	case *f.nodeURL == "":
		return errors.New("-jd needs -node-url (the own node)")
	case *f.retry <= 0:
		return errors.New("-jd-retry must be positive")
	case *f.floor < 0:
		return errors.New("-jd-block-floor must not be negative")
	}
	if *f.solo == "" {
		return errors.New("-jd needs -solo-address")
	}
	script, err := pool.AddressScript(*f.solo)
	if err != nil {
		return fmt.Errorf("-solo-address: %w", err)
	}
	cfg := &jdConfig{Addr: *f.addr, SoloScript: script, Tag: *f.tag, Retry: *f.retry, Exclude: map[chainhash.Hash]bool{},
		Node: node.Config{Name: "own", URL: *f.nodeURL, User: orEnv(*f.nodeUser, "ADIT_NODE_USER"), Password: orEnv(*f.nodePass, "ADIT_NODE_PASS")}}
	if *f.floor > 0 {
		t := share.TargetFromDifficulty(*f.floor)
		cfg.BlockFloor = &t
	}
	if err := cfg.Node.Validate(); err != nil {
		return fmt.Errorf("-node-url: %w", err)
	}
	for _, s := range strings.Split(*f.exclude, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		h, err := node.ParseHash(s)
		if err != nil {
			return fmt.Errorf("-exclude-txid: %w", err)
		}
		cfg.Exclude[h] = true
	}
	v2 := *fc.V2
	v2.Extended = true
	fc.V2, fc.JD = &v2, cfg
	return nil
}

func orEnv(v, env string) string {
	if v != "" {
		return v
	}
	return os.Getenv(env)
}
