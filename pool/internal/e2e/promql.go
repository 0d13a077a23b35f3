package e2e

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// This file reads the metric names out of the PromQL in deploy/ (Grafana
// panel queries and Prometheus alert rules) so a test can hold them against
// what a running daemon exports. It is a scanner, not a PromQL parser: it
// knows selectors, label matchers, range and subquery brackets, function
// calls, aggregations with their by/without lists, vector matching
// (on/ignoring/group_left/group_right), offset and the binary keywords, and
// Grafana's $variables. That covers what the deploy files use; anything it
// cannot place is an error, so a new construct fails loudly instead of
// hiding a name.

// Matcher is one label matcher of a selector.
type Matcher struct {
	Label, Op, Value string
}

// MetricRef is a metric an expression selects, with its label matchers.
type MetricRef struct {
	Name     string
	Matchers []Matcher
}

// ExprRefs is what an expression names: its selectors and the label names
// of its by, without, on, ignoring and group_* lists.
type ExprRefs struct {
	Metrics  []MetricRef
	Grouping []string
}

// Names returns the distinct metric names, sorted.
func (r ExprRefs) Names() []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range r.Metrics {
		if !seen[m.Name] {
			seen[m.Name] = true
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out
}

// aggregations are PromQL's aggregation operators: never metric names,
// and they may be followed by by/without before their argument.
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// keywords are PromQL's other reserved words.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
	"atan2": true,
}

// groupers take a parenthesised label list.
var groupers = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

type tokKind int

const (
	tokIdent tokKind = iota
	tokNumber
	tokString
	tokPunct
)

type token struct {
	kind tokKind
	text string // a string token's text is its unquoted value
}

var (
	reIdent  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	reNumber = regexp.MustCompile(`^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)([a-zA-Z][a-zA-Z0-9]*)*`)
	reVar    = regexp.MustCompile(`^\$(\{[^}]*\}|[a-zA-Z_][a-zA-Z0-9_]*)`)
	rePunct  = regexp.MustCompile(`^(=~|!~|!=|==|<=|>=|[-+*/%^<>=(){}\[\],@])`)
)

func tokenize(expr string) ([]token, error) {
	var toks []token
	s := expr
	for len(s) > 0 {
		switch c := s[0]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s = s[1:]
		case c == '#': // a comment runs to the end of the line
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = s[i:]
			} else {
				s = ""
			}
		case c == '"' || c == '\'' || c == '`':
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' && c != '`' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			toks = append(toks, token{tokString, b.String()})
			s = s[i+1:]
		case c == '$':
			m := reVar.FindString(s)
			if m == "" {
				return nil, fmt.Errorf("bad variable at %q", s)
			}
			toks = append(toks, token{tokNumber, m}) // stands where a number or duration would
			s = s[len(m):]
		default:
			if m := reNumber.FindString(s); m != "" {
				toks = append(toks, token{tokNumber, m})
				s = s[len(m):]
			} else if m := reIdent.FindString(s); m != "" {
				toks = append(toks, token{tokIdent, m})
				s = s[len(m):]
			} else if m := rePunct.FindString(s); m != "" {
				toks = append(toks, token{tokPunct, m})
				s = s[len(m):]
			} else {
				return nil, fmt.Errorf("unexpected %q in %q", s[:1], expr)
			}
		}
	}
	return toks, nil
}

// ParseExpr returns the metrics and grouping labels a PromQL expression
// (with Grafana variables) names.
func ParseExpr(expr string) (ExprRefs, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return ExprRefs{}, err
	}
	var r ExprRefs
	is := func(i int, kind tokKind, text string) bool {
		return i < len(toks) && toks[i].kind == kind && toks[i].text == text
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tokPunct && t.text == "[":
			// A range or subquery: durations, a colon, variables.
			j := i + 1
			for ; j < len(toks) && !is(j, tokPunct, "]"); j++ {
				if toks[j].kind == tokPunct && toks[j].text == "[" {
					return r, fmt.Errorf("nested brackets in %q", expr)
				}
			}
			if j == len(toks) {
				return r, fmt.Errorf("unclosed [ in %q", expr)
			}
			i = j
		case t.kind == tokPunct && t.text == "{":
			// A selector without a metric name.
			ms, j, err := matchers(toks, i, expr)
			if err != nil {
				return r, err
			}
			ref := MetricRef{Matchers: ms}
			for _, m := range ms {
				if m.Label == "__name__" && m.Op == "=" {
					ref.Name = m.Value
				}
			}
			if ref.Name == "" {
				return r, fmt.Errorf("selector without a metric name in %q", expr)
			}
			r.Metrics = append(r.Metrics, ref)
			i = j
		case t.kind != tokIdent:
		case groupers[t.text]:
			if !is(i+1, tokPunct, "(") {
				if strings.HasPrefix(t.text, "group_") {
					continue // group_left without labels
				}
				return r, fmt.Errorf("%s without a label list in %q", t.text, expr)
			}
			j := i + 2
			for ; j < len(toks) && !is(j, tokPunct, ")"); j++ {
				switch {
				case toks[j].kind == tokIdent:
					r.Grouping = append(r.Grouping, toks[j].text)
				case is(j, tokPunct, ","):
				default:
					return r, fmt.Errorf("unexpected %q in %s list of %q", toks[j].text, t.text, expr)
				}
			}
			if j == len(toks) {
				return r, fmt.Errorf("unclosed %s list in %q", t.text, expr)
			}
			i = j
		case aggregations[t.text] || keywords[t.text]:
		case is(i+1, tokPunct, "("):
			// A function call; its arguments are scanned in turn.
		default:
			ref := MetricRef{Name: t.text}
			if is(i+1, tokPunct, "{") {
				ms, j, err := matchers(toks, i+1, expr)
				if err != nil {
					return r, err
				}
				ref.Matchers, i = ms, j
			}
			r.Metrics = append(r.Metrics, ref)
		}
	}
	return r, nil
}

// matchers reads the label matchers of the selector whose { is toks[open]
// and returns them with the index of the closing }.
func matchers(toks []token, open int, expr string) ([]Matcher, int, error) {
	var ms []Matcher
	i := open + 1
	for {
		if i < len(toks) && toks[i].kind == tokPunct && toks[i].text == "}" {
			return ms, i, nil
		}
		if i+2 >= len(toks) || toks[i].kind != tokIdent || toks[i+1].kind != tokPunct || toks[i+2].kind != tokString {
			return nil, 0, fmt.Errorf("bad label matcher in %q", expr)
		}
		switch op := toks[i+1].text; op {
		case "=", "!=", "=~", "!~":
			ms = append(ms, Matcher{Label: toks[i].text, Op: op, Value: toks[i+2].text})
		default:
			return nil, 0, fmt.Errorf("bad matcher operator %q in %q", op, expr)
		}
		i += 3
		if i < len(toks) && toks[i].kind == tokPunct && toks[i].text == "," {
			i++
		}
	}
}

var reLabelValues = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// ParseVariableQuery reads a Grafana Prometheus variable query of the form
// label_values(selector, label): the selector's references, with label
// among the grouping labels.
func ParseVariableQuery(q string) (ExprRefs, error) {
	m := reLabelValues.FindStringSubmatch(q)
	if m == nil {
		return ExprRefs{}, fmt.Errorf("variable query %q: only label_values(selector, label) is understood", q)
	}
	r, err := ParseExpr(m[1])
	if err != nil {
		return r, err
	}
	r.Grouping = append(r.Grouping, m[2])
	return r, nil
}

// Exported is an index of a /metrics scrape: metric name → label name →
// the values seen.
type Exported map[string]map[string]map[string]bool

// IndexScrape indexes Scrape's "name{labels}" keys.
func IndexScrape(series map[string]float64) (Exported, error) {
	x := Exported{}
	for k := range series {
		name, labels, err := splitSeries(k)
		if err != nil {
			return nil, err
		}
		if x[name] == nil {
			x[name] = map[string]map[string]bool{}
		}
		for l, v := range labels {
			if x[name][l] == nil {
				x[name][l] = map[string]bool{}
			}
			x[name][l][v] = true
		}
	}
	return x, nil
}

// splitSeries parses `name{a="x",b="y"}` (the exposition format's escapes
// \\, \" and \n in values).
func splitSeries(k string) (string, map[string]string, error) {
	i := strings.IndexByte(k, '{')
	if i < 0 {
		return k, nil, nil
	}
	name, s := k[:i], k[i+1:]
	labels := map[string]string{}
	for {
		if strings.HasPrefix(s, "}") {
			return name, labels, nil
		}
		eq := strings.Index(s, `="`)
		if eq <= 0 {
			return "", nil, fmt.Errorf("bad series %q", k)
		}
		l := s[:eq]
		s = s[eq+2:]
		var b strings.Builder
		j := 0
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
				if s[j] == 'n' {
					b.WriteByte('\n')
					continue
				}
			}
			b.WriteByte(s[j])
		}
		if j >= len(s) {
			return "", nil, fmt.Errorf("bad series %q", k)
		}
		labels[l] = b.String()
		s = strings.TrimPrefix(s[j+1:], ",")
	}
}

// Check reports what r names that x does not export: unknown metric names,
// matcher labels a metric does not have, equality-matched values it never
// takes (with values; a value holding a Grafana $variable is not checked),
// and grouping labels none of the expression's metrics has. Labels in
// targetLabels (those Prometheus attaches at scrape time, such as instance
// and job) and metrics in synthetic (such as up) are taken as given.
func (x Exported) Check(r ExprRefs, targetLabels, synthetic map[string]bool, values bool) []string {
	var problems []string
	has := map[string]bool{} // labels of the expression's metrics
	for _, m := range r.Metrics {
		if synthetic[m.Name] {
			continue
		}
		labels, ok := x[m.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is not exported", m.Name))
			continue
		}
		for l := range labels {
			has[l] = true
		}
		for _, mt := range m.Matchers {
			if targetLabels[mt.Label] || mt.Label == "__name__" {
				continue
			}
			vals, ok := labels[mt.Label]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s has no label %q", m.Name, mt.Label))
			case values && mt.Op == "=" && mt.Value != "" && !strings.Contains(mt.Value, "$") && !vals[mt.Value]:
				problems = append(problems, fmt.Sprintf("%s{%s} never takes the value %q (it has %v)",
					m.Name, mt.Label, mt.Value, sortedKeys(vals)))
			}
		}
	}
	for _, l := range r.Grouping {
		if !targetLabels[l] && !has[l] && len(r.Metrics) > 0 {
			problems = append(problems, fmt.Sprintf("no metric of the expression has the label %q", l))
		}
	}
	return problems
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
