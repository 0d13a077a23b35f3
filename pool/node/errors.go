package node

import (
	"errors"
	"fmt"
)

// ErrUnsupported is returned by features the configured node does not offer
// (websocket notifications on Bitcoin Core).
var ErrUnsupported = errors.New("node: not supported by this node")

// RPCError is an error object returned by the node in a JSON-RPC reply.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("node: %s: rpc error %d: %s", e.Method, e.Code, e.Message)
}

// Well-known RPC error codes shared by Bitcoin Core and btcd.
const (
	CodeMethodNotFound    = -32601
	CodeInvalidParams     = -32602
	CodeMisc              = -1
	CodeInvalidAddress    = -5
	CodeBlockNotFound     = -5
	CodeInInitialDownload = -10
)

// HTTPError is a non-200 HTTP reply that carried no JSON-RPC error object
// (bad credentials, wrong path, a proxy in the way).
type HTTPError struct {
	Method     string
	StatusCode int
	// Body is the start of the reply body, for diagnostics.
	Body string
}

func (e *HTTPError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("node: %s: http status %d", e.Method, e.StatusCode)
	}
	return fmt.Sprintf("node: %s: http status %d: %q", e.Method, e.StatusCode, e.Body)
}

// EmptyBodyError is a reply with no body at all. btcd answers this way to
// requests it cannot parse as JSON-RPC (a missing "jsonrpc" or a null "id").
type EmptyBodyError struct {
	Method     string
	StatusCode int
}

func (e *EmptyBodyError) Error() string {
	return fmt.Sprintf("node: %s: empty reply body (http status %d)", e.Method, e.StatusCode)
}

// ParseError is a reply whose result could not be decoded or failed
// validation (a template with a malformed field, a bad hash).
type ParseError struct {
	Method string
	Field  string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("node: %s: bad reply: %v", e.Method, e.Err)
	}
	return fmt.Sprintf("node: %s: bad reply field %s: %v", e.Method, e.Field, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }
