//go:build integration

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"
)

// deployTargetLabels are the labels Prometheus attaches at scrape time
// (deploy/prometheus/prometheus.yml: job, instance, and the static pool
// label); no daemon series carries them.
var deployTargetLabels = map[string]bool{"instance": true, "job": true, "pool": true}

// TestDeployQueriesNameExportedMetrics holds every PromQL expression in
// deploy/ against a running daemon's /metrics: each Grafana panel query and
// variable query in deploy/grafana/*.json, each alert expression in the
// rule files of deploy/prometheus/, and each input series of their
// promtool unit tests must name metrics the daemon exports, with labels
// those metrics have and equality-matched values they take. The daemon runs
// with Stratum V2, Job Declaration, Postgres and payouts on, and a fleet of
// V1 and V2 miners finds blocks for a few seconds, so every family is
// registered and the labelled ones that appear on use (node RPC methods,
// submissions) have appeared.
func TestDeployQueriesNameExportedMetrics(t *testing.T) {
	start := time.Now()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	exprs := deployExprs(t, root)
	if len(exprs) < 30 {
		t.Fatalf("only %d expressions found in deploy/", len(exprs))
	}

	_, _, rpc := startNode(t)
	env := NewPayoutEnv(t)
	d := StartJDDaemon(t, bins, rpc, env.Options(payoutSettings(10*payoutShareDiff)), "")
	acct := NewTestAccount("deploy")
	miner := Start(t, "adit-miner fleet", bins.Miner, nil, "-pool", d.StratumAddr, "-sv2-pool", d.SV2Addr,
		"-authority-key", d.Authority, "-fleet", "4", "-v2-fraction", "0.5", "-share-rate", "5",
		"-user", acct.Address+".deploy", "-json")
	Eventually(t, 45*time.Second, "shares on both protocols shipped, a block accepted, the node's tip polled", func() bool {
		m, err := d.Metrics()
		return err == nil &&
			m[`adit_shares_total{protocol="v1",result="accepted"}`] >= 5 &&
			m[`adit_shares_total{protocol="v2",result="accepted"}`] >= 5 &&
			m["adit_shares_shipped_total"] >= 10 &&
			m[`adit_blocks_submitted_total{result="accepted"}`] >= 1 &&
			m[`adit_node_up{node="btcd"}`] == 1 && m[`adit_node_tip_height{node="btcd"}`] > 0
	})
	stopMiner(t, miner)
	series, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	x, err := IndexScrape(series)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range x {
		if strings.HasPrefix(n, "adit_") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	t.Logf("the daemon exports %d adit_ metric names: %s", len(names), strings.Join(names, " "))

	used := map[string]bool{}
	for _, e := range exprs {
		var r ExprRefs
		if e.variable {
			r, err = ParseVariableQuery(e.expr)
		} else {
			r, err = ParseExpr(e.expr)
		}
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		if len(r.Metrics) == 0 {
			t.Errorf("%s: %q names no metric", e.where, e.expr)
		}
		// up is Prometheus's own series for the scrape of a target.
		for _, p := range x.Check(r, deployTargetLabels, map[string]bool{"up": e.rules}, !e.input) {
			t.Errorf("%s: %s\n\t%s", e.where, p, e.expr)
		}
		for _, n := range r.Names() {
			used[n] = true
		}
	}
	var unused []string
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !used[n] && !used[base+"_bucket"] && !used[base+"_sum"] && !used[base+"_count"] {
			unused = append(unused, n)
		}
	}
	t.Logf("%d expressions checked in %v; adit_ names in no dashboard query or alert: %v",
		len(exprs), time.Since(start).Round(time.Second), unused)
}

// deployExpr is one PromQL expression of a deploy file and where it is.
type deployExpr struct {
	where, expr string
	variable    bool // a Grafana variable query (label_values)
	rules       bool // from a Prometheus rule or rule test file
	// input is a rule test's input series: its label values (other nodes,
	// say) need not be this daemon's.
	input bool
}

// deployExprs collects the expressions of deploy/grafana/*.json and the
// rule and rule-test files in deploy/prometheus/.
func deployExprs(t *testing.T, root string) []deployExpr {
	t.Helper()
	var out []deployExpr
	dashboards, _ := filepath.Glob(filepath.Join(root, "deploy/grafana/*.json"))
	if len(dashboards) == 0 {
		t.Fatal("no dashboard in deploy/grafana")
	}
	for _, f := range dashboards {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, dashboardExprs(filepath.Base(f), doc)...)
	}
	ruleFiles, _ := filepath.Glob(filepath.Join(root, "deploy/prometheus/*.yml"))
	var nRules int
	for _, f := range ruleFiles {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Name  string
				Rules []struct {
					Alert, Record, Expr string
				}
			}
			Tests []struct {
				InputSeries []struct {
					Series string
				} `yaml:"input_series"`
				PromQLExprTests []struct {
					Expr string
				} `yaml:"promql_expr_test"`
			}
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		base := filepath.Base(f)
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				out = append(out, deployExpr{where: fmt.Sprintf("%s: group %s: %s%s", base, g.Name, r.Alert, r.Record),
					expr: r.Expr, rules: true})
				nRules++
			}
		}
		for i, tc := range doc.Tests {
			for _, s := range tc.InputSeries {
				out = append(out, deployExpr{where: fmt.Sprintf("%s: test %d: input series", base, i+1), expr: s.Series, rules: true, input: true})
			}
			for _, e := range tc.PromQLExprTests {
				out = append(out, deployExpr{where: fmt.Sprintf("%s: test %d: promql_expr_test", base, i+1), expr: e.Expr, rules: true})
			}
		}
	}
	if nRules == 0 {
		t.Fatal("no alert rule in deploy/prometheus")
	}
	return out
}

// dashboardExprs walks a Grafana dashboard: every target's expr (panels
// nested in rows included) and every query variable's query.
func dashboardExprs(file string, doc any) []deployExpr {
	var out []deployExpr
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if title, ok := v["title"].(string); ok {
				path += " / " + title
			}
			if e, ok := v["expr"].(string); ok && e != "" {
				out = append(out, deployExpr{where: fmt.Sprintf("%s:%s [%v]", file, path, v["refId"]), expr: e})
			}
			for k, c := range v {
				if k != "templating" {
					walk(path, c)
				}
			}
			if tm, ok := v["templating"].(map[string]any); ok {
				list, _ := tm["list"].([]any)
				for _, it := range list {
					vv, _ := it.(map[string]any)
					if vv["type"] != "query" {
						continue
					}
					q := vv["definition"]
					if qm, ok := vv["query"].(map[string]any); ok {
						q = qm["query"]
					} else if qs, ok := vv["query"].(string); ok {
						q = qs
					}
					if qs, ok := q.(string); ok {
						out = append(out, deployExpr{where: fmt.Sprintf("%s: variable %v", file, vv["name"]), expr: qs, variable: true})
					}
				}
			}
		case []any:
			for _, c := range v {
				walk(path, c)
			}
		}
	}
	walk("", doc)
	return out
}
