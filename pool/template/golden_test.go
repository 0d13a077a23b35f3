package template_test

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/adit-pool/adit/pool/node"
	"github.com/adit-pool/adit/pool/template"
	"github.com/adit-pool/adit/share"
	"github.com/adit-pool/adit/share/vectortest"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/jobs.golden")

// goldenJobs builds jobs for a fixed set of templates: Bitcoin Core v31.1
// regtest getblocktemplate replies (with and without a transaction) and
// synthetic templates at BIP34 encoding boundaries, with and without a
// witness commitment, with several pool tags and extranonce sizes.
func goldenJobs(t *testing.T) (names []string, jobs []*share.Job) {
	t.Helper()
	add := func(name string, cfg template.BuilderConfig, tpl *node.Template) {
		t.Helper()
		b, err := template.NewBuilder(cfg)
		if err != nil {
			t.Fatal(err)
		}
		j, err := b.Build(tpl, 42, true, time.Unix(1_700_000_100, 0))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		names, jobs = append(names, name), append(jobs, j)
	}
	for _, f := range []string{"gbt-sample.json", "gbt-sample-with-tx.json"} {
		raw := vectortest.ReadVector(t, "bitcoin-core-v31.1/"+f)
		tpl, err := node.ParseTemplate(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		add("core-v31.1-"+f, template.BuilderConfig{PayoutScript: testPayout, PoolTag: "/adit/", ExtranonceSize: 12}, tpl)
	}
	for _, h := range []int64{1, 16, 17, 127, 128, 255, 256, 32768, 8388608, 840000} {
		for _, w := range []bool{false, true} {
			txs := []*wire.MsgTx{legacyTx(1), legacyTx(2)}
			if w {
				txs = append(txs, witnessTx(3))
			}
			for _, c := range []struct {
				tag string
				en  int
			}{{"", 8}, {"/adit/", 12}, {strings.Repeat("é", 60), 32}, {strings.Repeat("x", 90), 1}} {
				add(fmt.Sprintf("h%d-w%v-tag%d-en%d", h, w, len(c.tag), c.en),
					template.BuilderConfig{PayoutScript: testPayout, PoolTag: c.tag, ExtranonceSize: c.en},
					testTemplate(t, h, txs...))
			}
		}
	}
	return names, jobs
}

func goldenLine(name string, j *share.Job) string {
	var br bytes.Buffer
	for _, h := range j.MerkleBranch {
		br.WriteString(hex.EncodeToString(h[:]))
	}
	return fmt.Sprintf("%s height=%d en=%d value=%d witness=%v prefix=%x suffix=%x branch=%s\n",
		name, j.Height, j.ExtranonceSize, j.CoinbaseValue, j.Witness, j.CoinbasePrefix, j.CoinbaseSuffix, br.String())
}

// TestBuildGolden pins the exact coinbase layout (prefix, suffix, branch,
// value, witness flag) the builder produces for the golden templates, so a
// change to how jobs are laid out shows up as a diff of testdata/jobs.golden.
func TestBuildGolden(t *testing.T) {
	names, jobs := goldenJobs(t)
	var got strings.Builder
	for i, j := range jobs {
		got.WriteString(goldenLine(names[i], j))
	}
	const path = "testdata/jobs.golden"
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
	if len(gl) != len(wl) {
		t.Fatalf("%d golden lines, want %d", len(gl), len(wl))
	}
	for i := range gl {
		if gl[i] != wl[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, gl[i], wl[i])
		}
	}
}
