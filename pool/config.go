package pool

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"

	"github.com/adit-pool/adit/stratum"
	"github.com/adit-pool/adit/stratum/srvconf"
	"github.com/adit-pool/adit/sv2"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

// Config is the daemon's whole configuration: a TOML file, then ADIT_*
// environment variables (for secrets), then command-line flags.
type Config struct {
	// Network is mainnet, testnet3, signet or regtest.
	Network string `toml:"network"`
	// Instance names this daemon in share records; InstanceID (0-255) is the
	// first byte of every extranonce it hands out. Daemons sharing a database
	// must differ in both.
	Instance   string `toml:"instance"`
	InstanceID uint8  `toml:"instance_id"`
	// PayoutAddress receives the coinbase; PoolTag is written into it.
	PayoutAddress string `toml:"payout_address"`
	PoolTag       string `toml:"pool_tag"`
	// ExtranonceSize is the coinbase extranonce room after the pool's
	// PrefixSize-byte prefix: what an SV2 extended channel may roll. V1
	// miners always roll 8 bytes (extranonce1 is padded with zeros when
	// the room is wider). 8 to 28; wider suits SV2 proxies that split
	// their channel among many miners.
	ExtranonceSize int `toml:"extranonce_size"`

	Nodes     []NodeConfig    `toml:"node"`
	Templates TemplatesConfig `toml:"templates"`
	Stratum   StratumConfig   `toml:"stratum"`
	SV2       SV2Config       `toml:"sv2"`
	JD        JDConfig        `toml:"jd"`
	Vardiff   VardiffConfig   `toml:"vardiff"`
	HTTP      PoolHTTPConfig  `toml:"http"`
	Log       LogConfig       `toml:"log"`
	ShareLog  ShareLogConfig  `toml:"sharelog"`
	Database  DatabaseConfig  `toml:"database"`
	Payout    PayoutConfig    `toml:"payout"`
	Regtest   RegtestConfig   `toml:"regtest"`
}

// PayoutConfig turns on PPLNS crediting and payouts (they need the database).
type PayoutConfig struct {
	Enabled bool `toml:"enabled"`
	// KeyFile holds the pool's signing key (WIF or hex; mode 0600). Its
	// P2WPKH address must be payout_address, so coinbases are spendable.
	KeyFile string `toml:"key_file"`
	// FeeBasisPoints is the pool fee in 1/100 % (100 = 1 %).
	FeeBasisPoints int64  `toml:"fee_basis_points"`
	FeeAccount     string `toml:"fee_account"`
	// PPLNSFactor: the window is factor × network difficulty.
	PPLNSFactor float64 `toml:"pplns_factor"`
	// Maturity is the confirmations at which a block is credited (101).
	Maturity int64 `toml:"maturity"`
	// ThresholdSats: balances at or above it are paid.
	ThresholdSats int64 `toml:"threshold_sats"`
	// FeeRate is the payout transaction's fee rate in sat/vB.
	FeeRate int64 `toml:"fee_rate"`
	// FeePolicy: "pool" pays the transaction fee, or "miners" share it.
	FeePolicy string   `toml:"fee_policy"`
	Interval  Duration `toml:"interval"`
	// PollInterval is how often block confirmations are checked.
	PollInterval Duration `toml:"poll_interval"`
	// RecoverDepth is how many of the newest best-chain blocks are checked
	// at start for pool blocks the database lacks (0: 144).
	RecoverDepth int64 `toml:"recover_depth"`
}

// NodeConfig is one Bitcoin Core or btcd RPC endpoint.
type NodeConfig struct {
	Name     string   `toml:"name"`
	URL      string   `toml:"url"`
	User     string   `toml:"user"`
	Password string   `toml:"password"`
	Timeout  Duration `toml:"timeout"`
	// Websocket enables btcd's websocket block notifications.
	Websocket bool `toml:"websocket"`
}

// TemplatesConfig sets how often work is refreshed.
type TemplatesConfig struct {
	// Refresh is how often a non-clean job is built for the same tip.
	Refresh Duration `toml:"refresh"`
	// Poll is the fallback best-block poll interval.
	Poll Duration `toml:"poll"`
}

// ListenerConfig are the keys every listener section ([stratum], [sv2],
// [jd]) has: connection limits, deadlines and the send queue. Zero values
// take the server's defaults (each protocol has its own).
type ListenerConfig struct {
	MaxConns         int      `toml:"max_conns"`
	MaxConnsPerIP    int      `toml:"max_conns_per_ip"`
	HandshakeTimeout Duration `toml:"handshake_timeout"`
	IdleTimeout      Duration `toml:"idle_timeout"`
	WriteTimeout     Duration `toml:"write_timeout"`
	SendQueue        int      `toml:"send_queue"`
}

// Limits converts l for a server's Config.
func (l ListenerConfig) Limits() srvconf.Limits {
	return srvconf.Limits{MaxConns: l.MaxConns, MaxConnsPerIP: l.MaxConnsPerIP, HandshakeTimeout: l.HandshakeTimeout.D(),
		IdleTimeout: l.IdleTimeout.D(), WriteTimeout: l.WriteTimeout.D(), SendQueue: l.SendQueue}
}

// StratumConfig is the Stratum V1 listener.
type StratumConfig struct {
	Listen       string `toml:"listen"`
	MaxLineBytes int    `toml:"max_line_bytes"`
	ListenerConfig
	// VersionMask is the pool's BIP310 version-rolling mask (hex).
	VersionMask string `toml:"version_mask"`
}

// SV2Config is the Noise-encrypted Stratum V2 listener. It shares the job
// stream, validator, share log and payouts with Stratum V1.
type SV2Config struct {
	// Listen is the encrypted listener ("" disables Stratum V2).
	Listen string `toml:"listen"`
	// AuthorityKeyFile holds the pool's authority secret key (made by
	// `aditctl sv2-keygen`, mode 0600); miners pin its public key.
	AuthorityKeyFile string `toml:"authority_key_file"`
	// PlaintextListen is an unencrypted listener for tests; off by default
	// and refused on mainnet.
	PlaintextListen string `toml:"plaintext_listen"`
	ListenerConfig
	// CertificateValidity is how long each Noise certificate is valid.
	CertificateValidity Duration `toml:"certificate_validity"`
	// SuccessBatch and SuccessInterval bound how many accepted shares one
	// SubmitShares.Success acknowledges and how long it may wait (a block
	// is acknowledged at once).
	SuccessBatch    int      `toml:"success_batch"`
	SuccessInterval Duration `toml:"success_interval"`
}

// MinJDExtranonceSize is the smallest extranonce_size Job Declaration runs
// with: the room an extended channel of a JD client gets.
const MinJDExtranonceSize = 10

// JDConfig opens Stratum V2 Job Declaration: miners declare their own block
// templates to the Job Declaration Server and mine them on extended
// channels of the mining port with SetCustomMiningJob. Zero values take the
// sv2/jd defaults.
type JDConfig struct {
	// Listen is the JDS's Noise listener ("" disables Job Declaration). It
	// uses the mining port's authority key and certificates.
	Listen string `toml:"listen"`
	ListenerConfig
	// AllocatedTokenLifetime bounds the wait from AllocateMiningJobToken to
	// DeclareMiningJob; ActiveTokenLifetime the wait from
	// DeclareMiningJob.Success to SetCustomMiningJob. Tokens are single use.
	AllocatedTokenLifetime Duration `toml:"allocated_token_lifetime"`
	ActiveTokenLifetime    Duration `toml:"active_token_lifetime"`
	// Per-connection rate limits.
	AllocationsPerMinute  int `toml:"allocations_per_minute"`
	DeclarationsPerMinute int `toml:"declarations_per_minute"`
	// MaxWtxids bounds a declaration's transaction list.
	MaxWtxids int `toml:"max_wtxids"`
	// ProposalTimeout bounds the node's check of a declared block;
	// MissingTxsTimeout the wait for ProvideMissingTransactions.Success.
	ProposalTimeout   Duration `toml:"proposal_timeout"`
	MissingTxsTimeout Duration `toml:"missing_txs_timeout"`
	// TipWait is how long a declaration for the block after one the pool
	// has not seen yet waits for it before stale-chain-tip.
	TipWait Duration `toml:"tip_wait"`
	// MirrorInterval is how often the mempool mirror refreshes from the
	// first node; MirrorMaxBytes bounds its memory.
	MirrorInterval Duration `toml:"mirror_interval"`
	MirrorMaxBytes int64    `toml:"mirror_max_bytes"`
}

// HTTPConfig is an HTTP listener (the daemon's, adit-proxy's).
type HTTPConfig struct {
	Listen string `toml:"listen"`
}

// PoolHTTPConfig is the daemon's metrics, API and dashboard listener.
type PoolHTTPConfig struct {
	HTTPConfig
	// PublicHost is the host name (or IP) miners dial, used in the
	// connection details the API and dashboard show. Empty: the listeners'
	// host, or when they listen on every address the host the page was
	// asked for.
	PublicHost string `toml:"public_host"`
}

// LogConfig selects zap's console (development) or JSON (production) output.
type LogConfig struct {
	Format string `toml:"format"`
	Level  string `toml:"level"`
}

// ShareLogConfig is the local durable share log.
type ShareLogConfig struct {
	// Dir holds the log's segments; empty disables durability (refused on
	// mainnet).
	Dir string `toml:"dir"`
	// Fsync is always, interval or none.
	Fsync         string   `toml:"fsync"`
	FsyncInterval Duration `toml:"fsync_interval"`
	// OnDiskFull is what happens when the log cannot be written: reject
	// (refuse shares with an error) is the only policy.
	OnDiskFull string `toml:"on_disk_full"`
}

// DatabaseConfig is the Postgres connection. The DSN normally comes from the
// environment (ADIT_DATABASE_DSN) so the password stays out of the file.
type DatabaseConfig struct {
	DSN     string `toml:"dsn"`
	Migrate bool   `toml:"migrate"`
	// Retention is how long share partitions are kept.
	Retention Duration `toml:"retention"`
}

// RegtestConfig holds settings that exist only for regtest load tests.
type RegtestConfig struct {
	// BlockFloorDifficulty: a share must also reach this difficulty to count
	// as a block candidate, so load tests measure the pool rather than the
	// node (on regtest about half of all hashes are blocks). Refused on every
	// other network.
	BlockFloorDifficulty float64 `toml:"block_floor_difficulty"`
}

// Duration is a time.Duration read from TOML strings such as "30s".
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// DefaultConfig returns a configuration with every default filled in; a file
// only needs to name what differs.
func DefaultConfig() Config {
	return Config{
		Network:  "regtest",
		Instance: "adit-1",
		PoolTag:  "/adit/",

		ExtranonceSize: 8,
		Templates: TemplatesConfig{
			Refresh: Duration(30 * time.Second),
			Poll:    Duration(500 * time.Millisecond),
		},
		Stratum: StratumConfig{
			Listen:       "127.0.0.1:3333",
			MaxLineBytes: 16 << 10,
			VersionMask:  "1fffe000",
		},
		Vardiff: VardiffConfig{
			Start:          1,
			Min:            0.0001,
			Max:            1e12,
			TargetInterval: Duration(10 * time.Second),
			RetargetShares: 16,
		},
		HTTP: PoolHTTPConfig{HTTPConfig: HTTPConfig{Listen: "127.0.0.1:8080"}},
		Log:  LogConfig{Format: "console", Level: "info"},
		ShareLog: ShareLogConfig{
			Fsync:         "always",
			FsyncInterval: Duration(5 * time.Millisecond),
			OnDiskFull:    "reject",
		},
		Database: DatabaseConfig{Retention: Duration(90 * 24 * time.Hour)},
		Payout: PayoutConfig{
			FeeBasisPoints: 100,
			FeeAccount:     "pool-fee",
			PPLNSFactor:    2,
			Maturity:       101,
			ThresholdSats:  1_000_000,
			FeeRate:        2,
			FeePolicy:      "pool",
			Interval:       Duration(10 * time.Minute),
			PollInterval:   Duration(10 * time.Second),
		},
	}
}

// LoadConfig reads a TOML file over the defaults (path may be empty), then
// applies environment overrides.
func LoadConfig(path string, env func(string) string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		md, err := toml.DecodeFile(path, &cfg)
		if err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
		if un := md.Undecoded(); len(un) > 0 {
			return cfg, fmt.Errorf("config %s: unknown keys %v", path, un)
		}
	}
	cfg.applyEnv(env)
	return cfg, nil
}

// applyEnv takes secrets and a few deployment values from ADIT_* variables:
// ADIT_DATABASE_DSN, ADIT_PAYOUT_ADDRESS, ADIT_NODE_<i>_URL/USER/PASSWORD
// (i counts from 0).
func (c *Config) applyEnv(env func(string) string) {
	if env == nil {
		env = os.Getenv
	}
	set := func(dst *string, key string) {
		if v := env(key); v != "" {
			*dst = v
		}
	}
	set(&c.Database.DSN, "ADIT_DATABASE_DSN")
	set(&c.PayoutAddress, "ADIT_PAYOUT_ADDRESS")
	for i := range c.Nodes {
		p := "ADIT_NODE_" + strconv.Itoa(i) + "_"
		set(&c.Nodes[i].URL, p+"URL")
		set(&c.Nodes[i].User, p+"USER")
		set(&c.Nodes[i].Password, p+"PASSWORD")
	}
}

// ChainParams returns the btcd parameters for the configured network.
func (c *Config) ChainParams() (*chaincfg.Params, error) {
	switch c.Network {
	case "mainnet":
		return &chaincfg.MainNetParams, nil
	case "testnet3", "testnet":
		return &chaincfg.TestNet3Params, nil
	case "signet":
		return &chaincfg.SigNetParams, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	}
	return nil, fmt.Errorf("network %q is not one of mainnet, testnet3, signet, regtest", c.Network)
}

// VersionMaskValue parses Stratum.VersionMask.
func (c *Config) VersionMaskValue() (uint32, error) { return c.Stratum.versionMask() }

func (c StratumConfig) versionMask() (uint32, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(c.VersionMask, "0x"), 16, 32)
	if err != nil {
		return 0, fmt.Errorf("stratum.version_mask %q is not 8 hex digits", c.VersionMask)
	}
	return uint32(v), nil
}

// Server is the Stratum V1 server's configuration (defaults applied) for
// this section; startDifficulty is vardiff's start (informational).
func (c StratumConfig) Server(startDifficulty float64) (stratum.Config, error) {
	mask, err := c.versionMask()
	if err != nil {
		return stratum.Config{}, err
	}
	return stratum.Config{
		Listen:          c.Listen,
		MaxLineBytes:    c.MaxLineBytes,
		Limits:          c.Limits(),
		VersionMask:     mask,
		StartDifficulty: startDifficulty,
	}.WithDefaults(), nil
}

// Validate checks every section and returns all problems at once.
func (c *Config) Validate() error {
	var errs []error
	params, err := c.ChainParams()
	if err != nil {
		errs = append(errs, err)
	}
	if c.Instance == "" {
		errs = append(errs, errors.New("instance must name this daemon"))
	}
	if params != nil {
		if c.PayoutAddress == "" {
			errs = append(errs, errors.New("payout_address is required (or ADIT_PAYOUT_ADDRESS)"))
		} else if _, err := DecodeAddress(c.PayoutAddress, params); err != nil {
			errs = append(errs, fmt.Errorf("payout_address: %w", err))
		}
	}
	if len(c.PoolTag) > 40 {
		errs = append(errs, fmt.Errorf("pool_tag is %d bytes, at most 40 fit in the coinbase", len(c.PoolTag)))
	}
	if c.ExtranonceSize < 8 || c.ExtranonceSize > 28 {
		errs = append(errs, fmt.Errorf("extranonce_size %d is not in [8, 28]", c.ExtranonceSize))
	}
	if len(c.Nodes) == 0 {
		errs = append(errs, errors.New("at least one [[node]] is required"))
	}
	for i, n := range c.Nodes {
		if n.URL == "" {
			errs = append(errs, fmt.Errorf("node[%d].url is required", i))
		}
	}
	if c.Templates.Refresh.D() < time.Second {
		errs = append(errs, errors.New("templates.refresh must be at least 1s"))
	}
	if c.Templates.Poll.D() < 50*time.Millisecond {
		errs = append(errs, errors.New("templates.poll must be at least 50ms"))
	}
	if c.Stratum.Listen == "" {
		errs = append(errs, errors.New("stratum.listen is required"))
	}
	if _, err := c.VersionMaskValue(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Vardiff.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.SV2.Listen != "" || c.SV2.PlaintextListen != "" {
		if c.SV2.AuthorityKeyFile == "" {
			errs = append(errs, errors.New("sv2.authority_key_file is required with sv2.listen (make one with aditctl sv2-keygen)"))
		}
		if c.SV2.PlaintextListen != "" && c.Network == "mainnet" {
			errs = append(errs, errors.New("sv2.plaintext_listen is for tests and refused on mainnet"))
		}
	}
	if c.JD.Listen != "" && (c.SV2.Listen == "" || c.SV2.AuthorityKeyFile == "") {
		errs = append(errs, errors.New("jd.listen needs sv2.listen and sv2.authority_key_file: declared jobs are mined on the Stratum V2 port, under its authority key"))
	}
	if c.JD.Listen != "" && c.ExtranonceSize < MinJDExtranonceSize {
		errs = append(errs, fmt.Errorf("jd.listen needs extranonce_size >= %d (the reference JD client falls back below it: 2 bytes for its own channels, 8 rollable); it is %d",
			MinJDExtranonceSize, c.ExtranonceSize))
	}
	if c.HTTP.Listen == "" {
		errs = append(errs, errors.New("http.listen is required"))
	}
	if h := c.HTTP.PublicHost; strings.ContainsAny(h, "/ \t@?#") || (strings.Contains(h, ":") && net.ParseIP(h) == nil) {
		errs = append(errs, fmt.Errorf("http.public_host %q must be a bare host name or IP address, without scheme or port", h))
	}
	switch c.Log.Format {
	case "console", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format %q is not console or json", c.Log.Format))
	}
	switch c.ShareLog.Fsync {
	case "always", "interval", "none":
	default:
		errs = append(errs, fmt.Errorf("sharelog.fsync %q is not always, interval or none", c.ShareLog.Fsync))
	}
	if c.ShareLog.OnDiskFull != "reject" {
		errs = append(errs, fmt.Errorf("sharelog.on_disk_full %q: only reject is supported", c.ShareLog.OnDiskFull))
	}
	if c.Network == "mainnet" && c.ShareLog.Dir == "" {
		errs = append(errs, errors.New("sharelog.dir is required on mainnet: accepted shares must be durable"))
	}
	if c.Payout.Enabled {
		switch {
		case c.Database.DSN == "":
			errs = append(errs, errors.New("payout.enabled needs database.dsn (or ADIT_DATABASE_DSN)"))
		case c.ShareLog.Dir == "":
			errs = append(errs, errors.New("payout.enabled needs sharelog.dir: shares reach the database through the log"))
		}
		if c.Payout.KeyFile == "" {
			errs = append(errs, errors.New("payout.key_file is required when payout.enabled"))
		}
		if c.Payout.FeeBasisPoints < 0 || c.Payout.FeeBasisPoints > 10000 {
			errs = append(errs, fmt.Errorf("payout.fee_basis_points %d is not in [0, 10000]", c.Payout.FeeBasisPoints))
		}
		if c.Payout.FeePolicy != "pool" && c.Payout.FeePolicy != "miners" {
			errs = append(errs, fmt.Errorf("payout.fee_policy %q is not pool or miners", c.Payout.FeePolicy))
		}
	}
	if c.Database.DSN != "" && c.ShareLog.Dir == "" {
		errs = append(errs, errors.New("database.dsn needs sharelog.dir: shares reach the database through the log"))
	}
	if c.Regtest.BlockFloorDifficulty != 0 && c.Network != "regtest" {
		errs = append(errs, fmt.Errorf("regtest.block_floor_difficulty is a regtest-only setting, refused on %s", c.Network))
	}
	if c.Regtest.BlockFloorDifficulty < 0 {
		errs = append(errs, errors.New("regtest.block_floor_difficulty must be >= 0"))
	}
	return errors.Join(errs...)
}

// DecodeAddress parses a payout address and checks it belongs to params' network.
func DecodeAddress(s string, params *chaincfg.Params) (btcutil.Address, error) {
	addr, err := btcutil.DecodeAddress(s, params)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid address: %v", s, err)
	}
	if !addr.IsForNet(params) {
		return nil, fmt.Errorf("%q is not a %s address", s, params.Name)
	}
	return addr, nil
}

// AddressScript returns the output script of a Bitcoin address of any
// network (mainnet, testnet3, signet, regtest): for tools that are told an
// address without a network (a miner's solo address, a proxy's policy).
func AddressScript(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("no address")
	}
	for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.SigNetParams, &chaincfg.RegressionNetParams} {
		a, err := btcutil.DecodeAddress(s, p)
		if err != nil || !a.IsForNet(p) {
			continue
		}
		return txscript.PayToAddrScript(a)
	}
	return nil, fmt.Errorf("%q is not a Bitcoin address", s)
}

// Server is the Stratum V2 server's configuration (defaults applied) for
// this section, and the key source of its Noise certificates (the
// authority key read from authority_key_file), which a JDS beside it
// shares. listen "" serves the plaintext port alone.
func (c SV2Config) Server() (sv2.Config, noise.KeySource, error) {
	authority, err := keys.LoadSecretKeyFile(c.AuthorityKeyFile)
	if err != nil {
		return sv2.Config{}, nil, fmt.Errorf("sv2.authority_key_file: %w", err)
	}
	listen := c.Listen
	if listen == "" {
		listen = "-" // plaintext only
	}
	return sv2.Config{
		Listen:          listen,
		PlaintextListen: c.PlaintextListen,
		Limits:          c.Limits(),
		SuccessBatch:    c.SuccessBatch,
		SuccessInterval: c.SuccessInterval.D(),
	}.WithDefaults(), &noise.KeyRotator{Authority: authority, Validity: c.CertificateValidity.D()}, nil
}
