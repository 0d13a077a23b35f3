package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
)

const (
	wsHandshakeTimeout = 10 * time.Second
	wsPingInterval     = 30 * time.Second
	wsReadTimeout      = 2*wsPingInterval + 10*time.Second
	wsWriteTimeout     = 10 * time.Second
	wsMaxMessage       = 1 << 20
	wsBackoffMin       = 100 * time.Millisecond
	wsBackoffMax       = 10 * time.Second
)

// NotifyBlocks subscribes to btcd's websocket block notifications and calls
// onBlock for every blockconnected / filteredblockconnected notification, and
// once after every successful (re)subscription because blocks may have been
// missed while disconnected. It reconnects with exponential backoff and
// returns ctx.Err() when ctx is done. onBlock runs on NotifyBlocks' goroutine
// and must not block for long. For a node without Config.WebsocketNotify
// (Bitcoin Core) it returns ErrUnsupported at once.
func (c *Client) NotifyBlocks(ctx context.Context, onBlock func()) error {
	if !c.cfg.WebsocketNotify {
		return ErrUnsupported
	}
	wsURL, err := websocketURL(c.cfg.URL)
	if err != nil {
		return err
	}
	backoff := wsBackoffMin
	for {
		connected, err := c.notifyOnce(ctx, wsURL, onBlock)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if connected {
			backoff = wsBackoffMin
		}
		c.log.Warn("block notification websocket lost", zap.Error(err), zap.Duration("retry_in", backoff))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, wsBackoffMax)
	}
}

func websocketURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("node: url %q: unsupported scheme", raw)
	}
	u.Path = "/ws"
	return u.String(), nil
}

type wsMessage struct {
	ID     *uint64         `json:"id"`
	Method string          `json:"method"`
	Error  *rpcErrorObj    `json:"error"`
	Result json.RawMessage `json:"result"`
}

// notifyOnce runs one websocket session. connected reports whether the
// subscription was established.
func (c *Client) notifyOnce(ctx context.Context, wsURL string, onBlock func()) (connected bool, err error) {
	dialer := websocket.Dialer{HandshakeTimeout: wsHandshakeTimeout, Proxy: nil}
	hdr := http.Header{"Authorization": []string{c.auth}}
	conn, resp, err := dialer.DialContext(ctx, wsURL, hdr)
	if err != nil {
		if resp != nil {
			return false, &HTTPError{Method: "websocket", StatusCode: resp.StatusCode}
		}
		return false, fmt.Errorf("node: websocket dial: %w", err)
	}
	conn.SetReadLimit(wsMaxMessage)

	// The owner closes the connection when ctx ends or the session fails,
	// which unblocks the reader below.
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ping := time.NewTicker(wsPingInterval)
		defer ping.Stop()
		for {
			select {
			case <-ctx.Done():
				_ = conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				_ = conn.Close()
				return
			case <-done:
				_ = conn.Close()
				return
			case <-ping.C:
				if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout)); err != nil {
					_ = conn.Close()
					return
				}
			}
		}
	}()
	defer func() { close(done); <-stopped }()

	extend := func() { _ = conn.SetReadDeadline(time.Now().Add(wsReadTimeout)) }
	extend()
	conn.SetPongHandler(func(string) error { extend(); return nil })

	id := c.nextID.Add(1)
	sub, _ := json.Marshal(request{JSONRPC: "1.0", ID: id, Method: "notifyblocks", Params: []any{}})
	// Control writes (pings) may run concurrently with this data write;
	// gorilla/websocket allows one concurrent writer of each kind.
	_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, sub); err != nil {
		return false, fmt.Errorf("node: websocket subscribe: %w", err)
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return connected, fmt.Errorf("node: websocket read: %w", err)
		}
		extend()
		var msg wsMessage
		if err := json.Unmarshal(data, &msg); err != nil {
			c.log.Warn("undecodable websocket message", zap.Error(err), zap.Int("bytes", len(data)))
			continue
		}
		switch {
		case msg.ID != nil && *msg.ID == id:
			if msg.Error != nil {
				return false, &RPCError{Method: "notifyblocks", Code: msg.Error.Code, Message: msg.Error.Message}
			}
			connected = true
			c.log.Info("subscribed to block notifications")
			onBlock()
		case msg.Method == "blockconnected" || msg.Method == "filteredblockconnected":
			onBlock()
		}
	}
}
