package jd

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// TokenSize is the length of a mining job token: 16 random bytes, opaque
// to the client.
const TokenSize = 16

type tokenState uint8

const (
	tokAllocated tokenState = iota // from AllocateMiningJobToken
	tokDeclaring                   // its DeclareMiningJob is being checked
	tokActive                      // from DeclareMiningJob.Success
)

type tokenEntry struct {
	conn    uint64
	user    string
	state   tokenState
	expires time.Time
	decl    *Declaration // tokActive only
}

// tokenStore holds every live token. A token is bound to the connection
// and user_identifier of its allocation; it is used once: a declaration
// replaces the allocated token by a new active one, and Activate removes
// the active one whatever its outcome. Everything of a connection goes with
// it (dropConn). Safe for concurrent use (one mutex, nothing called under
// it).
type tokenStore struct {
	now                 func() time.Time
	rand                io.Reader
	allocTTL, activeTTL time.Duration

	mu     sync.Mutex
	tokens map[[TokenSize]byte]*tokenEntry
	byConn map[uint64]map[[TokenSize]byte]struct{}
}

func newTokenStore(now func() time.Time, rand io.Reader, allocTTL, activeTTL time.Duration) *tokenStore {
	return &tokenStore{now: now, rand: rand, allocTTL: allocTTL, activeTTL: activeTTL,
		tokens: make(map[[TokenSize]byte]*tokenEntry), byConn: make(map[uint64]map[[TokenSize]byte]struct{})}
}

// add stores e under a fresh random token; the caller holds mu.
func (s *tokenStore) add(e *tokenEntry) ([]byte, error) {
	var k [TokenSize]byte
	for {
		if _, err := io.ReadFull(s.rand, k[:]); err != nil {
			return nil, fmt.Errorf("jd: token randomness: %w", err)
		}
		if _, taken := s.tokens[k]; !taken {
			break
		}
	}
	s.tokens[k] = e
	m := s.byConn[e.conn]
	if m == nil {
		m = make(map[[TokenSize]byte]struct{})
		s.byConn[e.conn] = m
	}
	m[k] = struct{}{}
	return k[:], nil
}

// remove deletes token k; the caller holds mu.
func (s *tokenStore) remove(k [TokenSize]byte) {
	e, ok := s.tokens[k]
	if !ok {
		return
	}
	delete(s.tokens, k)
	if m := s.byConn[e.conn]; m != nil {
		delete(m, k)
		if len(m) == 0 {
			delete(s.byConn, e.conn)
		}
	}
}

// allocate issues a token to conn for user. It fails when conn holds max
// allocated (undeclared) tokens already.
func (s *tokenStore) allocate(conn uint64, user string, max int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.byConn[conn] {
		if e := s.tokens[k]; e.state != tokActive {
			n++
		}
	}
	if n >= max {
		return nil, fmt.Errorf("jd: connection holds %d unused tokens", n)
	}
	return s.add(&tokenEntry{conn: conn, user: user, state: tokAllocated, expires: s.now().Add(s.allocTTL)})
}

func tokenKey(tok []byte) (k [TokenSize]byte, ok bool) {
	if len(tok) != TokenSize {
		return k, false
	}
	copy(k[:], tok)
	return k, true
}

// beginDeclare marks conn's allocated token as declared and returns its
// user identifier. A token that is malformed, unknown, expired, another
// connection's, or no longer merely allocated is refused (an expired one is
// removed).
func (s *tokenStore) beginDeclare(conn uint64, tok []byte) (user string, err error) {
	k, ok := tokenKey(tok)
	if !ok {
		return "", fmt.Errorf("%w: malformed token (%d bytes)", ErrInvalidToken, len(tok))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.tokens[k]
	switch {
	case e == nil:
		return "", fmt.Errorf("%w: unknown token", ErrInvalidToken)
	case e.conn != conn:
		return "", fmt.Errorf("%w: the token was allocated to another connection", ErrInvalidToken)
	case !s.now().Before(e.expires):
		s.remove(k)
		return "", fmt.Errorf("%w: the token expired", ErrInvalidToken)
	case e.state != tokAllocated:
		return "", fmt.Errorf("%w: the token was already declared", ErrInvalidToken)
	}
	e.state = tokDeclaring
	return e.user, nil
}

// finishDeclare ends the declaration of conn's token tok: it is removed and,
// when d is not nil, a new active token for d is issued (with the same
// user). It fails when tok is gone (burnt by Activate, or expired).
func (s *tokenStore) finishDeclare(conn uint64, tok []byte, d *Declaration) ([]byte, error) {
	k, _ := tokenKey(tok)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.tokens[k]
	if e == nil || e.conn != conn || e.state != tokDeclaring {
		return nil, fmt.Errorf("%w: the token was used or dropped during the declaration", ErrInvalidToken)
	}
	s.remove(k)
	if d == nil {
		return nil, nil
	}
	d.UserIdentity = e.user
	return s.add(&tokenEntry{conn: conn, user: e.user, state: tokActive, expires: s.now().Add(s.activeTTL), decl: d})
}

// take consumes an active token for a SetCustomMiningJob: any attempt
// burns the token. See Server.Activate.
func (s *tokenStore) take(tok []byte, user string) (*Declaration, error) {
	k, ok := tokenKey(tok)
	if !ok {
		return nil, fmt.Errorf("%w: malformed token (%d bytes)", ErrInvalidToken, len(tok))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.tokens[k]
	if e == nil {
		return nil, fmt.Errorf("%w: unknown or already used token", ErrInvalidToken)
	}
	s.remove(k)
	switch {
	case e.state == tokAllocated:
		return nil, fmt.Errorf("%w: the token was allocated but never declared", ErrInvalidToken)
	case e.state == tokDeclaring:
		return nil, fmt.Errorf("%w: the declaration is still being checked", ErrNotYetValidated)
	case !s.now().Before(e.expires):
		return nil, fmt.Errorf("%w: the token expired", ErrInvalidToken)
	case e.user != user:
		return nil, fmt.Errorf("%w: the token belongs to another user identity", ErrInvalidToken)
	}
	return e.decl, nil
}

// dropConn removes every token of conn.
func (s *tokenStore) dropConn(conn uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.byConn[conn] {
		delete(s.tokens, k)
	}
	delete(s.byConn, conn)
}

// sweep removes expired tokens, except those being declared (their
// declaration ends them).
func (s *tokenStore) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, e := range s.tokens {
		if e.state != tokDeclaring && !now.Before(e.expires) {
			s.remove(k)
		}
	}
}

// len returns how many tokens are live.
func (s *tokenStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tokens)
}
