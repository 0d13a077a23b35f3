package e2e

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseExpr(t *testing.T) {
	for _, c := range []struct {
		expr     string
		names    []string
		matchers map[string][]Matcher
		grouping []string
	}{
		{
			expr:     `sum by (protocol) (rate(adit_shares_total{instance=~"$instance", result="accepted"}[$__rate_interval]))`,
			names:    []string{"adit_shares_total"},
			matchers: map[string][]Matcher{"adit_shares_total": {{"instance", "=~", "$instance"}, {"result", "=", "accepted"}}},
			grouping: []string{"protocol"},
		},
		{
			expr:     `histogram_quantile(0.99, sum by (le, method) (rate(adit_node_rpc_seconds_bucket{instance=~"${instance}"}[5m])))`,
			names:    []string{"adit_node_rpc_seconds_bucket"},
			grouping: []string{"le", "method"},
		},
		{
			expr:  `sum(adit_balances_satoshis) / 1e8 > 0.5 * sum(adit_connections offset 15m) and on (instance) time() - max(adit_node_tip_timestamp_seconds) > 5400`,
			names: []string{"adit_balances_satoshis", "adit_connections", "adit_node_tip_timestamp_seconds"},
			// on's list
			grouping: []string{"instance"},
		},
		{
			expr:     "max by (instance) (adit_node_tip_height) - on (instance) group_right adit_node_tip_height\n  # a comment naming not_a_metric\n  >= 2",
			names:    []string{"adit_node_tip_height"},
			grouping: []string{"instance", "instance"},
		},
		{
			expr:  `increase(adit_sharelog_rejected_total{reason="disk_full"}[5m:30s]) > 0 unless absent(up{job='aditd'})`,
			names: []string{"adit_sharelog_rejected_total", "up"},
			matchers: map[string][]Matcher{
				"adit_sharelog_rejected_total": {{"reason", "=", "disk_full"}},
				"up":                           {{"job", "=", "aditd"}},
			},
		},
		{
			expr:  `sum without (result) (adit_template_jobs_total) == bool 0 or vector(0)`,
			names: []string{"adit_template_jobs_total"}, grouping: []string{"result"},
		},
		{
			expr:     `{__name__="adit_blocks", status!="mature"}`,
			names:    []string{"adit_blocks"},
			matchers: map[string][]Matcher{"adit_blocks": {{"__name__", "=", "adit_blocks"}, {"status", "!=", "mature"}}},
		},
	} {
		r, err := ParseExpr(c.expr)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got := r.Names(); !reflect.DeepEqual(got, c.names) {
			t.Errorf("%s: names %v, want %v", c.expr, got, c.names)
		}
		for _, m := range r.Metrics {
			if want, ok := c.matchers[m.Name]; ok && !reflect.DeepEqual(m.Matchers, want) {
				t.Errorf("%s: %s matchers %v, want %v", c.expr, m.Name, m.Matchers, want)
			}
		}
		if !reflect.DeepEqual(r.Grouping, c.grouping) {
			t.Errorf("%s: grouping %v, want %v", c.expr, r.Grouping, c.grouping)
		}
	}
	for _, bad := range []string{`adit_x{a=~}`, `adit_x{a="b"`, `rate(adit_x[5m)`, `{a="b"}`, `sum by adit_x`, `adit_x{a=="b"}`, `"open`} {
		if _, err := ParseExpr(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestParseVariableQuery(t *testing.T) {
	r, err := ParseVariableQuery(`label_values(adit_connections{protocol="v1"}, instance)`)
	if err != nil || !reflect.DeepEqual(r.Names(), []string{"adit_connections"}) || !reflect.DeepEqual(r.Grouping, []string{"instance"}) {
		t.Fatalf("%+v, %v", r, err)
	}
	if _, err := ParseVariableQuery(`query_result(up)`); err == nil {
		t.Fatal("query_result accepted")
	}
}

func TestExportedCheck(t *testing.T) {
	x, err := IndexScrape(map[string]float64{
		`adit_shares_total{protocol="v1",result="accepted"}`: 1,
		`adit_shares_total{protocol="v2",result="stale"}`:    1,
		`adit_job_broadcast_seconds_bucket{le="+Inf"}`:       1,
		`adit_template_age_seconds`:                          1,
		`adit_odd{v="a \"quoted\", comma"}`:                  1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !x["adit_odd"]["v"][`a "quoted", comma`] {
		t.Fatalf("escaped value: %v", x["adit_odd"])
	}
	target := map[string]bool{"instance": true, "job": true}
	check := func(expr string, synthetic map[string]bool) []string {
		r, err := ParseExpr(expr)
		if err != nil {
			t.Fatal(err)
		}
		return x.Check(r, target, synthetic, true)
	}
	for _, ok := range []string{
		`sum by (protocol, instance) (rate(adit_shares_total{result="accepted", instance=~"$instance"}[5m]))`,
		`histogram_quantile(0.5, sum by (le) (rate(adit_job_broadcast_seconds_bucket[1m])))`,
		`adit_template_age_seconds > 120`,
		`adit_shares_total{result=~"rej.*"}`,
	} {
		if p := check(ok, nil); len(p) != 0 {
			t.Errorf("%s: %v", ok, p)
		}
	}
	if p := check(`up{job="aditd"} == 0`, map[string]bool{"up": true}); len(p) != 0 {
		t.Errorf("synthetic up: %v", p)
	}
	r, err := ParseExpr(`adit_shares_total{protocol="v3",result="accepted"}`)
	if err != nil {
		t.Fatal(err)
	}
	if p := x.Check(r, target, nil, false); len(p) != 0 {
		t.Errorf("values not checked: %v", p)
	}
	if p := x.Check(r, target, nil, true); len(p) != 1 {
		t.Errorf("values checked: %v", p)
	}
	for expr, want := range map[string]string{
		`adit_job_broadcast_seconds > 1`:                 "adit_job_broadcast_seconds is not exported",
		`adit_shares_total{reason="stale"}`:              `no label "reason"`,
		`adit_shares_total{result="acepted"}`:            `never takes the value "acepted"`,
		`sum by (status) (adit_shares_total)`:            `the label "status"`,
		`up == 0`:                                        "up is not exported",
		`sum(rate(adit_template_age_second[5m])) > 1e-3`: "adit_template_age_second is not exported",
	} {
		p := check(expr, nil)
		if len(p) != 1 || !strings.Contains(p[0], want) {
			t.Errorf("%s: %v, want one problem with %q", expr, p, want)
		}
	}
}
