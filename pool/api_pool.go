package pool

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/adit-pool/adit/payout"
	"github.com/adit-pool/adit/share"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
)

// poolStatus is the JSON body of /api/v1/pool.
type poolStatus struct {
	Network string `json:"network"`
	// Height is the height of the block being mined (the tip's + 1).
	Height         int64   `json:"height"`
	JobID          uint32  `json:"job_id"`
	TemplateAgeSec float64 `json:"template_age_seconds"`
	Hashrate       float64 `json:"hashrate_hs"`
	SharesWindow   int64   `json:"shares_last_10m"`
	Stratum        string  `json:"stratum"`
	// JobDeclaration is present when the pool runs a JDS.
	JobDeclaration *jdStatus `json:"job_declaration,omitempty"`

	// ChainHeight is the best block's height (-1 before the first template).
	ChainHeight       int64   `json:"chain_height"`
	NetworkDifficulty float64 `json:"network_difficulty"`
	Online            online  `json:"online"`
	// LastBlock is the newest block the pool found (null: none, or
	// payouts are off, or the database did not answer: see Notes).
	LastBlock *blockJSON   `json:"last_block"`
	Payout    *payoutTerms `json:"payout"`
	Connect   connectInfo  `json:"connect"`
	// Notes say what is missing from this answer and why.
	Notes []string `json:"notes,omitempty"`
}

// jdStatus is who mines their own templates: the JDS endpoint (Noise, the
// SV2 authority key), the hashrate and shares on declared jobs in the last
// ten minutes and the workers that submitted them.
type jdStatus struct {
	Endpoint         string   `json:"endpoint"`
	DeclaredHashrate float64  `json:"declared_hashrate_hs"`
	DeclaredShares   int64    `json:"declared_shares_last_10m"`
	DeclaringWorkers []string `json:"declaring_workers"`
}

// online is who is connected now, per protocol and in all (a miner or
// worker connected over both protocols counts once in Total). Connections
// are TCP connections (adit_connections), authorized or not; sessions are
// authorized V1 workers of a connection and open V2 channels.
type online struct {
	V1    protocolOnline `json:"v1"`
	V2    protocolOnline `json:"v2"`
	Total protocolOnline `json:"total"`
}

type protocolOnline struct {
	Connections int `json:"connections"`
	onlineCounts
}

// payoutTerms are the pool's payout rules.
type payoutTerms struct {
	Scheme         string  `json:"scheme"`
	FeeBasisPoints int64   `json:"fee_basis_points"`
	FeePercent     float64 `json:"fee_percent"`
	PPLNSFactor    float64 `json:"pplns_factor"`
	ThresholdSats  int64   `json:"threshold_sats"`
	Maturity       int64   `json:"maturity"`
	// TxFeePolicy says who pays payout transaction fees: pool or miners.
	TxFeePolicy     string  `json:"tx_fee_policy"`
	IntervalSeconds float64 `json:"interval_seconds"`
}

// connectInfo is what to hand a miner.
type connectInfo struct {
	StratumV1 string      `json:"stratum_v1"`
	StratumV2 *sv2Connect `json:"stratum_v2"`
	// JobDeclaration is the JDS (same authority key), null when off.
	JobDeclaration *string `json:"job_declaration"`
}

type sv2Connect struct {
	// URL is stratum2+tcp://host:port/authority_public_key, the form SV2
	// miners and proxies take.
	URL                string `json:"url"`
	HostPort           string `json:"host_port"`
	AuthorityPublicKey string `json:"authority_public_key"`
	// Plaintext is the unencrypted test listener, when on.
	Plaintext *string `json:"plaintext,omitempty"`
}

func (p *Pool) poolHandler(w http.ResponseWriter, r *http.Request) {
	s := p.status(time.Now())
	host := p.publicHost(r)
	s.Connect = p.connectInfo(host)
	if s.Payout != nil {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		b, err := p.storage.ledger.LastBlock(ctx)
		switch {
		case err != nil:
			p.log.Warn("api last block read failed", zap.Error(err))
			s.Notes = append(s.Notes, "last_block: the database did not answer")
		case b != nil:
			jb := p.blockJSON(b, s.ChainHeight)
			s.LastBlock = &jb
		}
	} else {
		s.Notes = append(s.Notes, "last_block, payout: payouts are not enabled on this pool")
	}
	writeAPI(w, r, 5*time.Second, s)
}

// status is the part of /api/v1/pool that needs no database.
func (p *Pool) status(now time.Time) poolStatus {
	s := poolStatus{Network: p.cfg.Network, Stratum: p.StratumAddr(), ChainHeight: -1}
	if j := p.hub.Latest(); j != nil {
		s.Height, s.JobID = j.Height, j.ID
		s.TemplateAgeSec = now.Sub(j.Created).Seconds()
		s.ChainHeight = j.Height - 1
		s.NetworkDifficulty = finite(j.NetworkTarget.Difficulty())
	}
	s.Hashrate, s.SharesWindow = p.hashrate.RateSince(now, p.started)
	if p.jd != nil {
		jd := &jdStatus{Endpoint: p.jd.Addr(), DeclaringWorkers: p.declarers.since(now.Add(-10 * time.Minute))}
		jd.DeclaredHashrate, jd.DeclaredShares = p.declaredRate.RateSince(now, p.started)
		s.JobDeclaration = jd
	}
	v1, v2, all := p.workers.cachedCounts(now)
	s.Online.V1.onlineCounts, s.Online.V2.onlineCounts, s.Online.Total.onlineCounts = v1, v2, all
	s.Online.V1.Connections = p.connections(share.ProtocolV1)
	s.Online.V2.Connections = p.connections(share.ProtocolV2)
	s.Online.Total.Connections = s.Online.V1.Connections + s.Online.V2.Connections
	if p.storage.ledger != nil {
		pc := p.cfg.Payout
		s.Payout = &payoutTerms{
			Scheme:          "PPLNS",
			FeeBasisPoints:  pc.FeeBasisPoints,
			FeePercent:      float64(pc.FeeBasisPoints) / 100,
			PPLNSFactor:     orDefault(pc.PPLNSFactor, payout.DefaultPPLNSFactor),
			ThresholdSats:   pc.ThresholdSats,
			Maturity:        p.maturity(),
			TxFeePolicy:     pc.FeePolicy,
			IntervalSeconds: pc.Interval.D().Seconds(),
		}
	}
	return s
}

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// maturity is the confirmations at which blocks are credited.
func (p *Pool) maturity() int64 {
	if p.cfg.Payout.Maturity > 0 {
		return p.cfg.Payout.Maturity
	}
	return payout.DefaultMaturity
}

// connections reads adit_connections{protocol}.
func (p *Pool) connections(proto share.Protocol) int {
	var m dto.Metric
	if err := p.m.connections.WithLabelValues(proto.String()).Write(&m); err != nil {
		return 0
	}
	return int(m.GetGauge().GetValue())
}

// publicHost is the host name miners should dial: http.public_host when
// set, else the listeners' host when they listen on one address, else the
// host the API request was addressed to.
func (p *Pool) publicHost(r *http.Request) string {
	if h := p.cfg.HTTP.PublicHost; h != "" {
		return h
	}
	if h, _, err := net.SplitHostPort(p.StratumAddr()); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			return h
		}
	}
	if h, _, err := net.SplitHostPort(r.Host); err == nil {
		return h
	}
	if r.Host != "" {
		return r.Host
	}
	return "127.0.0.1"
}

// withHost replaces a listen address's host with host.
func withHost(listen, host string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil || listen == "" {
		return listen
	}
	return net.JoinHostPort(host, port)
}

func (p *Pool) connectInfo(host string) connectInfo {
	c := connectInfo{StratumV1: "stratum+tcp://" + withHost(p.StratumAddr(), host)}
	if enc, plain := p.SV2Addrs(); enc != "" || plain != "" {
		v2 := &sv2Connect{AuthorityPublicKey: p.sv2Authority}
		if enc != "" {
			v2.HostPort = withHost(enc, host)
			v2.URL = "stratum2+tcp://" + v2.HostPort + "/" + p.sv2Authority
		}
		if plain != "" {
			pl := withHost(plain, host)
			v2.Plaintext = &pl
		}
		c.StratumV2 = v2
	}
	if p.jd != nil {
		if a := p.jd.Addr(); a != "" {
			jd := withHost(a, host)
			c.JobDeclaration = &jd
		}
	}
	return c
}

// hashrateHistory is the JSON body of /api/v1/pool/hashrate.
type hashrateHistory struct {
	Window        string `json:"window"`
	BucketSeconds int    `json:"bucket_seconds"`
	// Source says where the figures come from: "memory", this daemon's
	// accepted shares since it started (Since).
	Source string          `json:"source"`
	Since  time.Time       `json:"since"`
	Points []hashratePoint `json:"points"`
}

type hashratePoint struct {
	Time     time.Time `json:"time"`
	Hashrate float64   `json:"hashrate_hs"`
	Shares   int64     `json:"shares"`
}

// hashrateWindows are the series /api/v1/pool/hashrate serves: window →
// bucket width in minutes, bucket count.
var hashrateWindows = map[string][2]int{
	"1h":  {1, 60},
	"6h":  {5, 72},
	"24h": {10, 144},
}

func (p *Pool) hashrateHandler(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	win := "24h"
	if vs, ok := q["window"]; ok {
		if len(vs) != 1 {
			apiError(w, http.StatusBadRequest, "window given more than once")
			return
		}
		win = vs[0]
	}
	spec, ok := hashrateWindows[win]
	if !ok {
		apiError(w, http.StatusBadRequest, "window "+strconv.Quote(trunc(win))+" is not one of 1h, 6h, 24h")
		return
	}
	now := time.Now()
	out := hashrateHistory{Window: win, BucketSeconds: spec[0] * 60, Source: "memory", Since: p.history.Since(),
		Points: []hashratePoint{}}
	for _, pt := range p.history.Series(now, spec[0], spec[1]) {
		out.Points = append(out.Points, hashratePoint{Time: pt.Start, Hashrate: pt.Hashrate, Shares: pt.Shares})
	}
	// A new bucket completes every bucket width; half a minute is fresh
	// enough for every window.
	writeAPI(w, r, 30*time.Second, out)
}
