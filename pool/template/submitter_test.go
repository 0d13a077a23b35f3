package template_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
)

// solvedBlock builds and mines a job on the fake node's tip.
func solvedBlock(t *testing.T, f *fakeNode) ([]byte, [32]byte) {
	t.Helper()
	tpl, err := f.client(t, "tpl").GetBlockTemplate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := template.NewBuilder(template.BuilderConfig{PayoutScript: testPayout, ExtranonceSize: 8})
	j, err := b.Build(tpl, 1, true, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	en := make([]byte, 8)
	root := share.MerkleRoot(share.DoubleSHA256(j.Coinbase(en)), j.MerkleBranch)
	var h share.Header
	share.PutHeader(&h, j.Version, &j.PrevHash, &root, j.CurTime, j.Bits, 0)
	return j.Block(&h, en), share.DoubleSHA256(h[:])
}

func TestSubmitter(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		modes   []string // per node
		want    bool
		result  string
		errType any
	}{
		{"accepted", []string{""}, true, template.ResultAccepted, nil},
		{"one node fails, one accepts", []string{"http500", ""}, true, template.ResultAccepted, nil},
		{"rejected", []string{"bad-txnmrklroot"}, false, template.ResultRejected, &template.RejectedError{}},
		{"side chain", []string{"sidechain"}, false, template.ResultRejected, &template.RejectedError{}},
		{"all fail", []string{"http500", "http500"}, false, template.ResultError, &node.HTTPError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nodes []*node.Client
			var first *fakeNode
			for i, mode := range tc.modes {
				f := newFakeNode(t, 20)
				f.submit = mode
				if i == 0 {
					first = f
				}
				nodes = append(nodes, f.client(t, "node-"+mode))
			}
			block, hash := solvedBlock(t, first)
			reg := prometheus.NewRegistry()
			s := template.NewSubmitter(nodes, zaptest.NewLogger(t), template.NewMetrics(reg))
			ok, err := s.SubmitBlock(ctx, block, hash)
			if ok != tc.want {
				t.Fatalf("accepted = %v, %v", ok, err)
			}
			switch want := tc.errType.(type) {
			case nil:
				if err != nil {
					t.Fatal(err)
				}
			case *template.RejectedError:
				if !errors.As(err, &want) || len(want.Reasons) == 0 {
					t.Fatalf("err = %v", err)
				}
			case *node.HTTPError:
				if !errors.As(err, &want) {
					t.Fatalf("err = %v", err)
				}
			}
			if v := metricValue(t, reg, "adit_blocks_submitted_total", tc.result); v != 1 {
				t.Fatalf("%s counter = %v", tc.result, v)
			}
		})
	}
	t.Run("hash mismatch", func(t *testing.T) {
		f := newFakeNode(t, 1)
		block, hash := solvedBlock(t, f)
		hash[0] ^= 1
		s := template.NewSubmitter([]*node.Client{f.client(t, "a")}, nil, nil)
		if ok, err := s.SubmitBlock(ctx, block, hash); ok || !errors.Is(err, template.ErrHashMismatch) {
			t.Fatalf("= %v, %v", ok, err)
		}
	})
}
