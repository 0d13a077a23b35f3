package main

import (
	"errors"
	"flag"
	"fmt"
	"math"

	"github.com/adit-pool/adit/sv2/keys"
)

// v2Flags are the Stratum V2 command-line flags.
type v2Flags struct {
	protocol     *string
	sv2          *bool
	pool         *string
	authority    *string
	insecure     *bool
	channel      *string
	fleetV2      *int
	v2Fraction   *float64
	poolExplicit func() bool
}

func addV2Flags(fs *flag.FlagSet) *v2Flags {
	f := &v2Flags{
		protocol:   fs.String("protocol", "v1", "protocol of every miner: v1 (Stratum V1) or v2 (Stratum V2, Noise-encrypted)"),
		sv2:        fs.Bool("sv2", false, "shorthand for -protocol v2"),
		pool:       fs.String("sv2-pool", "", "the pool's Stratum V2 address host:port (default: -pool with -protocol v2; required for a mixed fleet)"),
		authority:  fs.String("authority-key", "", "the pool's Stratum V2 authority public key (base58check, from aditctl sv2-keygen); required for v2"),
		insecure:   fs.Bool("insecure-skip-verify", false, "Stratum V2: do not verify the pool's certificate (tests only)"),
		channel:    fs.String("channel", "extended", "Stratum V2 channel: standard (header-only, the pool's merkle root) or extended (own extranonce)"),
		fleetV2:    fs.Int("fleet-v2", 0, "in a V1 fleet, this many of the -fleet miners speak Stratum V2 instead"),
		v2Fraction: fs.Float64("v2-fraction", 0, "in a V1 fleet, this fraction (0..1) of the -fleet miners speak Stratum V2 instead"),
	}
	f.poolExplicit = func() bool {
		set := false
		fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "pool" })
		return set
	}
	return f
}

// apply sets the fleet's V2 part from the flags.
func (f *v2Flags) apply(fc *fleetConfig) error {
	proto := *f.protocol
	if *f.sv2 {
		proto = "v2"
	}
	switch proto {
	case "v1":
		if *f.fleetV2 < 0 || *f.fleetV2 > fc.Miners {
			return fmt.Errorf("-fleet-v2 %d: want 0..%d (-fleet)", *f.fleetV2, fc.Miners)
		}
		if !(*f.v2Fraction >= 0 && *f.v2Fraction <= 1) {
			return fmt.Errorf("-v2-fraction %g: want 0..1", *f.v2Fraction)
		}
		if *f.fleetV2 > 0 && *f.v2Fraction > 0 {
			return errors.New("-fleet-v2 and -v2-fraction exclude each other")
		}
		fc.V2Miners = *f.fleetV2
		if *f.v2Fraction > 0 {
			fc.V2Miners = int(math.Round(*f.v2Fraction * float64(fc.Miners)))
		}
	case "v2":
		if *f.fleetV2 > 0 || *f.v2Fraction > 0 {
			return errors.New("-fleet-v2 and -v2-fraction mix V2 miners into a V1 fleet; with -protocol v2 every miner speaks V2")
		}
		fc.V2Miners = fc.Miners
	default:
		return fmt.Errorf("-protocol %q: want v1 or v2", proto)
	}
	if fc.V2Miners == 0 {
		return nil
	}
	cfg := &v2Config{Addr: *f.pool, InsecureSkipVerify: *f.insecure}
	if cfg.Addr == "" {
		if fc.V2Miners < fc.Miners {
			return errors.New("a mixed fleet needs -sv2-pool (the pool's Stratum V2 address)")
		}
		if !f.poolExplicit() {
			return errors.New("-protocol v2 needs -sv2-pool or -pool (the pool's Stratum V2 address)")
		}
		cfg.Addr = fc.Base.Client.Addr
	}
	switch *f.channel {
	case "standard":
	case "extended":
		cfg.Extended = true
	default:
		return fmt.Errorf("-channel %q: want standard or extended", *f.channel)
	}
	switch {
	case *f.authority != "":
		pk, err := keys.ParsePublicKey(*f.authority)
		if err != nil {
			return fmt.Errorf("-authority-key: %w", err)
		}
		cfg.Authority = &pk
	case !cfg.InsecureSkipVerify:
		return errors.New("stratum V2 needs -authority-key (the pool's public key; aditctl sv2-keygen prints it) or -insecure-skip-verify")
	}
	fc.V2 = cfg
	return nil
}
