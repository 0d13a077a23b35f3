package farm

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/adit-pool/adit/pool"
	"github.com/adit-pool/adit/pool/jdc"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

// FileConfig is adit-proxy's TOML file (deploy/adit-proxy.example.toml
// documents every key); secrets come from the environment.
type FileConfig struct {
	Pool    UpstreamConfig     `toml:"pool"`
	Node    NodeConfig         `toml:"node"`
	Policy  PolicyConfig       `toml:"policy"`
	Stratum pool.StratumConfig `toml:"stratum"`
	// SV2 is an optional downstream Stratum V2 listener (the farm's own
	// authority key, made with aditctl sv2-keygen).
	SV2     pool.SV2Config     `toml:"sv2"`
	Vardiff pool.VardiffConfig `toml:"vardiff"`
	HTTP    pool.HTTPConfig    `toml:"http"`
	Log     pool.LogConfig     `toml:"log"`
	// Retry is the pause before redialling the pool and before declaring a
	// template again after stale-chain-tip.
	Retry pool.Duration `toml:"retry"`
	// MinerPrefix is how many extranonce bytes tell the farm's miners apart.
	MinerPrefix int `toml:"miner_prefix"`
	// Refresh is how often a job is made afresh from an unchanged template
	// (a job takes at most 2^20 shares).
	Refresh pool.Duration `toml:"refresh"`
	// Regtest is for test networks only: block_floor_difficulty must be
	// the pool's, so proxy and pool agree on which shares are blocks.
	Regtest pool.RegtestConfig `toml:"regtest"`
	// Modes are the modes in the order of preference: jd, pool, solo,
	// backup (default: jd, pool, then solo with [solo] address, then
	// backup with [backup] mining).
	Modes  []string     `toml:"modes"`
	Solo   SoloConfig   `toml:"solo"`
	Backup BackupConfig `toml:"backup"`
}

// SoloConfig is solo mining on the farm's node, the fallback when no pool
// works.
type SoloConfig struct {
	// Address is what solo blocks pay ("" leaves solo mode out).
	Address string `toml:"address"`
}

// BackupConfig is a second pool, mined with its own jobs (no JD).
type BackupConfig struct {
	Mining             string  `toml:"mining"` // "" leaves backup mode out
	AuthorityKey       string  `toml:"authority_key"`
	InsecureSkipVerify bool    `toml:"insecure_skip_verify"`
	User               string  `toml:"user"`
	Hashrate           float64 `toml:"hashrate"`
}

// UpstreamConfig is the pool, with Job Declaration.
type UpstreamConfig struct {
	JDS    string `toml:"jds"`
	Mining string `toml:"mining"`
	// AuthorityKey is the pool's authority public key (base58check).
	AuthorityKey       string `toml:"authority_key"`
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
	// User is what the pool credits: the farm's payout address.worker.
	User string `toml:"user"`
	// Hashrate is the farm's nominal hash rate in H/s (the pool's first
	// target); 0 lets the pool start from its default.
	Hashrate float64 `toml:"hashrate"`
}

// NodeConfig is the farm's own node (btcd or Bitcoin Core); its password
// comes from ADIT_PROXY_NODE_PASSWORD.
type NodeConfig struct {
	URL     string        `toml:"url"`
	User    string        `toml:"user"`
	Timeout pool.Duration `toml:"timeout"` // one RPC
	// DownAfter is how long the node may not answer before jd and solo
	// mode give up on it (the proxy falls back to pool jobs).
	DownAfter pool.Duration `toml:"down_after"`
}

// PolicyConfig is what the farm mines: its coinbase tag and the
// transactions its node offers that it leaves out (see Policy). A
// transaction left out takes its descendants in the template along.
type PolicyConfig struct {
	// Tag is pushed into the coinbase scriptSig after the height.
	Tag string `toml:"tag"`
	// ExcludeTxids are txids (hex, as the node prints them) left out.
	ExcludeTxids []string `toml:"exclude_txids"`
	// ExcludeScripts leaves out a transaction any output of which pays one
	// of these: Bitcoin addresses (of any network) or output scripts in
	// hex.
	ExcludeScripts []string `toml:"exclude_scripts"`
	// MinFeeRate (sat/vB, fractions allowed; 0: none) leaves out a
	// transaction whose own fee over its virtual size is below it.
	MinFeeRate float64 `toml:"min_fee_rate"`
}

// DefaultFileConfig is the configuration before the file is read.
func DefaultFileConfig() FileConfig {
	d := pool.DefaultConfig()
	return FileConfig{
		Node:        NodeConfig{Timeout: pool.Duration(30 * time.Second), DownAfter: pool.Duration(30 * time.Second)},
		Policy:      PolicyConfig{Tag: "/adit-proxy/"},
		Stratum:     d.Stratum,
		Vardiff:     d.Vardiff,
		HTTP:        pool.HTTPConfig{Listen: "127.0.0.1:9100"},
		Log:         d.Log,
		Retry:       pool.Duration(5 * time.Second),
		Refresh:     pool.Duration(30 * time.Second),
		MinerPrefix: 2,
	}
}

// LoadConfig reads path over the defaults (unknown keys are an error) and
// the node password from env.
func LoadConfig(path string, env func(string) string) (FileConfig, string, error) {
	cfg := DefaultFileConfig()
	if path == "" {
		return cfg, "", errors.New("adit-proxy needs -config")
	}
	md, err := toml.DecodeFile(path, &cfg)
	if err != nil {
		return cfg, "", fmt.Errorf("config %s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		return cfg, "", fmt.Errorf("config %s: unknown keys %v", path, un)
	}
	return cfg, env("ADIT_PROXY_NODE_PASSWORD"), nil
}

// Farm checks the file and returns the farm's Config; nodePassword is the
// farm node's RPC password.
func (c FileConfig) Farm(nodePassword string) (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Pool.JDS == "" || c.Pool.Mining == "" {
		bad("pool.jds and pool.mining are required")
	}
	if addr, _, _ := strings.Cut(c.Pool.User, "."); addr == "" {
		bad("pool.user (the farm's address.worker) is required")
	}
	authority, err := authorityKey("pool", c.Pool.AuthorityKey, c.Pool.InsecureSkipVerify)
	if err != nil {
		bad("%v", err)
	}
	var backup *jdc.DialConfig
	if b := c.Backup; b.Mining != "" {
		k, err := authorityKey("backup", b.AuthorityKey, b.InsecureSkipVerify)
		if err != nil {
			bad("%v", err)
		}
		if b.User == "" {
			b.User = c.Pool.User
		}
		backup = &jdc.DialConfig{Pool: b.Mining, Authority: k, InsecureSkipVerify: b.InsecureSkipVerify,
			User: b.User, Hashrate: float32(b.Hashrate), Vendor: "adit-proxy"}
	}
	var solo []byte
	if c.Solo.Address != "" {
		if solo, err = pool.AddressScript(c.Solo.Address); err != nil {
			bad("solo.address: %v", err)
		}
	}
	policy, err := NewPolicy(c.Policy)
	if err != nil {
		errs = append(errs, err)
	}
	nc := node.Config{Name: "farm", URL: c.Node.URL, User: c.Node.User, Password: nodePassword, Timeout: c.Node.Timeout.D()}
	if err := nc.Validate(); err != nil {
		bad("node: %v", err)
	}
	if err := c.Vardiff.Validate(); err != nil {
		bad("%v", err)
	}
	fc := Config{Modes: c.Modes, SoloScript: solo, Backup: backup}
	if _, err := fc.modes(); err != nil {
		bad("modes: %v", err)
	}
	sc, err := c.Stratum.Server(c.Vardiff.Start)
	if err == nil {
		err = sc.Validate()
	}
	if err != nil {
		bad("%v", err)
	}
	if c.Regtest.BlockFloorDifficulty < 0 {
		bad("regtest.block_floor_difficulty must be >= 0")
	}
	var sv2c *sv2.Config
	var sv2keys noise.KeySource
	if c.SV2.Listen != "" || c.SV2.PlaintextListen != "" {
		v2, ks, err := c.SV2.Server()
		if err == nil {
			err = v2.Validate()
		}
		if err != nil {
			bad("%v", err)
		}
		sv2c, sv2keys = &v2, ks
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return Config{
		Modes:      c.Modes,
		SV2:        sv2c,
		SV2Keys:    sv2keys,
		Backup:     backup,
		SoloScript: solo,
		Upstream: jdc.DialConfig{JDS: c.Pool.JDS, Pool: c.Pool.Mining, Authority: authority,
			InsecureSkipVerify: c.Pool.InsecureSkipVerify, User: c.Pool.User, Hashrate: float32(c.Pool.Hashrate),
			Vendor: "adit-proxy"},
		Node:        nc,
		Tag:         c.Policy.Tag,
		Exclude:     policy.Exclude,
		Retry:       c.Retry.D(),
		Stratum:     sc,
		Vardiff:     c.Vardiff,
		MinerPrefix: c.MinerPrefix,
		BlockFloor:  c.Regtest.BlockFloorDifficulty,
		NodeTimeout: c.Node.DownAfter.D(),
		Refresh:     c.Refresh.D(),
	}, nil
}

// authorityKey parses section's authority_key, required unless
// insecure_skip_verify.
func authorityKey(section, key string, insecure bool) (*keys.PublicKey, error) {
	switch {
	case key != "":
		k, err := keys.ParsePublicKey(key)
		if err != nil {
			return nil, fmt.Errorf("%s.authority_key: %w", section, err)
		}
		return &k, nil
	case !insecure:
		return nil, fmt.Errorf("%s.authority_key is required (insecure_skip_verify is for tests)", section)
	}
	return nil, nil
}
