package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// DefaultTimeout is the per-request timeout when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// maxReplyBytes bounds a reply body: a 4 MB block as hex inside JSON, with
// room for a large template.
const maxReplyBytes = 64 << 20

// Config configures one node endpoint.
type Config struct {
	// Name identifies the node in logs.
	Name string
	// URL is the RPC endpoint, e.g. http://127.0.0.1:18334.
	URL      string
	User     string
	Password string
	// Timeout bounds every request except a getblocktemplate longpoll, which
	// only its context bounds. Zero means DefaultTimeout.
	Timeout time.Duration
	// WebsocketNotify marks the node as btcd and enables its websocket
	// block notifications (NotifyBlocks). Bitcoin Core has no websocket.
	WebsocketNotify bool
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Name == "" {
		return errors.New("node: name is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("node %s: url: %w", c.Name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("node %s: url %q: scheme must be http or https", c.Name, c.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("node %s: url %q has no host", c.Name, c.URL)
	}
	if u.User != nil {
		return fmt.Errorf("node %s: put credentials in user/password, not the url", c.Name)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("node %s: timeout %v is negative", c.Name, c.Timeout)
	}
	return nil
}

// Metrics are the RPC metrics, shared by every Client of a process.
type Metrics struct {
	seconds *prometheus.HistogramVec
	errors  *prometheus.CounterVec
}

// NewMetrics creates and registers the node metrics on reg (nil: not
// registered). Call it once per registry: a second registration panics,
// like any duplicate Prometheus collector.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "adit_node_rpc_seconds",
			Help:    "Latency of node JSON-RPC calls (longpolls included).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "adit_node_rpc_errors_total",
			Help: "Node JSON-RPC calls that failed (transport, HTTP, RPC or parse errors).",
		}, []string{"method"}),
	}
	if reg != nil {
		reg.MustRegister(m.seconds, m.errors)
	}
	return m
}

// observe records one call of method that began at start. The error
// counter is touched on success too, so every method called is exported
// with its count (0 until it fails) and error rates show 0, not no data.
func (m *Metrics) observe(method string, start time.Time, err error) {
	m.seconds.WithLabelValues(method).Observe(time.Since(start).Seconds())
	e := m.errors.WithLabelValues(method)
	if err != nil {
		e.Inc()
	}
}

// Client talks to one node. It is safe for concurrent use.
type Client struct {
	cfg      Config
	log      *zap.Logger
	m        *Metrics
	url      string
	auth     string
	http     *http.Client // bounded by cfg.Timeout
	longpoll *http.Client // no global timeout: ctx bounds a longpoll
	nextID   atomic.Uint64
}

// New returns a client for cfg. log and m may be nil.
func New(cfg Config, log *zap.Logger, m *Metrics) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if log == nil {
		log = zap.NewNop()
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	newTransport := func(idle int) *http.Transport {
		return &http.Transport{
			Proxy:                 nil, // a node is never reached through a proxy
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          idle,
			MaxIdleConnsPerHost:   idle,
			MaxConnsPerHost:       0,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			ResponseHeaderTimeout: 0,
			DisableCompression:    true,
		}
	}
	c := &Client{
		cfg:      cfg,
		log:      log,
		m:        m,
		url:      cfg.URL,
		auth:     "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.User+":"+cfg.Password)),
		http:     &http.Client{Transport: newTransport(16), Timeout: cfg.Timeout},
		longpoll: &http.Client{Transport: newTransport(2)},
	}
	return c, nil
}

// Name returns the configured node name.
func (c *Client) Name() string { return c.cfg.Name }

// Config returns the client's configuration (with defaults applied).
func (c *Client) Config() Config { return c.cfg }

// Close releases idle connections.
func (c *Client) Close() {
	c.http.CloseIdleConnections()
	c.longpoll.CloseIdleConnections()
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcErrorObj struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  *rpcErrorObj    `json:"error"`
}

// Call performs one JSON-RPC call and decodes the result into result (which
// may be nil to discard it). It is exported for methods this package does not
// wrap.
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	return c.call(ctx, c.http, method, params, result)
}

func (c *Client) call(ctx context.Context, hc *http.Client, method string, params []any, result any) (err error) {
	start := time.Now()
	defer func() { c.m.observe(method, start, err) }()
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(request{JSONRPC: "1.0", ID: c.nextID.Add(1), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("node: %s: encode request: %w", method, err)
	}
	raw, status, err := c.post(ctx, hc, method, body)
	if err != nil {
		return err
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		if status != http.StatusOK {
			return &HTTPError{Method: method, StatusCode: status, Body: snippet(raw)}
		}
		return &ParseError{Method: method, Err: err}
	}
	if r.Error != nil {
		return &RPCError{Method: method, Code: r.Error.Code, Message: r.Error.Message}
	}
	if status != http.StatusOK {
		return &HTTPError{Method: method, StatusCode: status, Body: snippet(raw)}
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return &ParseError{Method: method, Err: err}
	}
	return nil
}

// post sends one request body and returns the non-empty reply body and the
// HTTP status.
func (c *Client) post(ctx context.Context, hc *http.Client, method string, body []byte) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("node: %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", c.auth)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("node: %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("node: %s: read reply: %w", method, err)
	}
	if len(raw) > maxReplyBytes {
		return nil, 0, &ParseError{Method: method, Err: fmt.Errorf("reply larger than %d bytes", maxReplyBytes)}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		if resp.StatusCode != http.StatusOK {
			return nil, 0, &HTTPError{Method: method, StatusCode: resp.StatusCode}
		}
		return nil, 0, &EmptyBodyError{Method: method, StatusCode: resp.StatusCode}
	}
	return raw, resp.StatusCode, nil
}

// MaxBatch bounds the number of calls in one CallBatch request.
const MaxBatch = 1000

// CallBatch performs len(params) calls of method in one JSON-RPC batch
// request (an array of requests; Bitcoin Core and btcd both answer one with
// an array, btcd processing the entries one after another). results[i]
// receives call i's result and errs[i] its *RPCError or *ParseError (nil on
// success). err is a failure of the whole request: transport, HTTP status,
// an unparsable reply, or a reply missing an entry; errs is then nil.
// len(results) must equal len(params), at most MaxBatch; a nil results[i]
// discards that result. The metrics record one observation per batch under
// the method name with a "/batch" suffix.
func (c *Client) CallBatch(ctx context.Context, method string, params [][]any, results []any) (errs []error, err error) {
	label := method + "/batch"
	start := time.Now()
	defer func() { c.m.observe(label, start, err) }()
	if len(params) != len(results) {
		return nil, fmt.Errorf("node: %s: %d params for %d results", method, len(params), len(results))
	}
	if len(params) == 0 {
		return nil, nil
	}
	if len(params) > MaxBatch {
		return nil, fmt.Errorf("node: %s: batch of %d calls exceeds %d", method, len(params), MaxBatch)
	}
	n := uint64(len(params))
	first := c.nextID.Add(n) - n + 1
	reqs := make([]request, len(params))
	for i, p := range params {
		if p == nil {
			p = []any{}
		}
		reqs[i] = request{JSONRPC: "1.0", ID: first + uint64(i), Method: method, Params: p}
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return nil, fmt.Errorf("node: %s: encode request: %w", method, err)
	}
	raw, status, err := c.post(ctx, c.http, method, body)
	if err != nil {
		return nil, err
	}
	var replies []struct {
		response
		ID *uint64 `json:"id"`
	}
	if err := json.Unmarshal(raw, &replies); err != nil {
		// A whole-request failure comes back as one object, not an array.
		var r response
		if json.Unmarshal(raw, &r) == nil && r.Error != nil {
			return nil, &RPCError{Method: method, Code: r.Error.Code, Message: r.Error.Message}
		}
		if status != http.StatusOK {
			return nil, &HTTPError{Method: method, StatusCode: status, Body: snippet(raw)}
		}
		return nil, &ParseError{Method: method, Err: err}
	}
	if status != http.StatusOK {
		return nil, &HTTPError{Method: method, StatusCode: status, Body: snippet(raw)}
	}
	errs = make([]error, len(params))
	got := make([]bool, len(params))
	for _, r := range replies {
		if r.ID == nil || *r.ID < first || *r.ID-first >= n || got[*r.ID-first] {
			return nil, &ParseError{Method: method, Field: "id", Err: errors.New("reply with an unknown or repeated id")}
		}
		i := *r.ID - first
		got[i] = true
		switch {
		case r.Error != nil:
			errs[i] = &RPCError{Method: method, Code: r.Error.Code, Message: r.Error.Message}
		case results[i] != nil:
			if err := json.Unmarshal(r.Result, results[i]); err != nil {
				errs[i] = &ParseError{Method: method, Err: err}
			}
		}
	}
	for i := range got {
		if !got[i] {
			return nil, &ParseError{Method: method, Field: "id", Err: fmt.Errorf("no reply for call %d of %d", i, n)}
		}
	}
	return errs, nil
}

func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		b = b[:n]
	}
	return string(bytes.TrimSpace(b))
}
