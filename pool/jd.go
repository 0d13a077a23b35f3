package pool

import (
	"context"

	"github.com/adit-pool/adit/pool/jdnode"
	"github.com/adit-pool/adit/pool/mempool"
	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/sv2/jd"
	"github.com/adit-pool/adit/sv2/noise"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// jobDeclaration is the pool's Job Declaration Server with what it runs on:
// the mempool mirror of the first node and the adapter that gives the JDS
// the pool's tip, proposals and block submission.
type jobDeclaration struct {
	mirror  *mempool.Mirror
	adapter *jdnode.Adapter
	server  *jd.Server
}

func newJobDeclaration(cfg *Config, params *chaincfg.Params, nodes []*node.Client, jobs jdnode.JobFeed,
	submitter *template.Submitter, keySource noise.KeySource, poolScript []byte,
	log *zap.Logger, reg prometheus.Registerer) (*jobDeclaration, error) {
	c := cfg.JD
	mirror, err := mempool.New(mempool.Config{
		Interval: c.MirrorInterval.D(),
		MaxBytes: c.MirrorMaxBytes,
	}, nodes[0], log.Named("mirror"), mempool.NewMetrics(reg))
	if err != nil {
		return nil, err
	}
	proposers := make([]jdnode.Proposer, len(nodes))
	for i, n := range nodes {
		proposers[i] = n
	}
	adapter, err := jdnode.New(jdnode.Config{
		Params: params, Mirror: mirror, Proposers: proposers, Submitter: submitter, Jobs: jobs,
	}, log.Named("node"))
	if err != nil {
		return nil, err
	}
	server, err := jd.NewServer(jd.Config{
		Listen:                 c.Listen,
		Limits:                 c.Limits(),
		AllocatedTokenLifetime: c.AllocatedTokenLifetime.D(),
		ActiveTokenLifetime:    c.ActiveTokenLifetime.D(),
		AllocationsPerMinute:   c.AllocationsPerMinute,
		DeclarationsPerMinute:  c.DeclarationsPerMinute,
		MaxWtxids:              c.MaxWtxids,
		ProposalTimeout:        c.ProposalTimeout.D(),
		MissingTxsTimeout:      c.MissingTxsTimeout.D(),
		TipWait:                c.TipWait.D(),
	}.WithDefaults(), jd.Deps{
		Node: adapter, Keys: keySource, PoolScript: poolScript, Log: log, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	return &jobDeclaration{mirror: mirror, adapter: adapter, server: server}, nil
}

// run starts the mirror and the tip follower at once, and the JDS's
// listener once there is work (serve holds it until the first job).
func (j *jobDeclaration) run(ctx context.Context, g *errgroup.Group, serve func(func(context.Context) error) func() error) {
	g.Go(func() error { return ignoreCanceled(j.mirror.Run(ctx)) })
	g.Go(func() error { return j.adapter.Run(ctx) })
	g.Go(serve(j.server.Run))
}

// Addr is the JDS listen address once it serves (nil before).
func (j *jobDeclaration) Addr() string {
	if a := j.server.Addr(); a != nil {
		return a.String()
	}
	return ""
}
