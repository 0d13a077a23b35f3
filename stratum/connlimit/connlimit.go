package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Refusal reasons returned by Admit; they are used as metric label values.
const (
	MaxConns  = "max_conns"        // the total limit is reached
	MaxPerIP  = "max_conns_per_ip" // the remote IP's limit is reached
	BadRemote = "bad_remote_addr"  // the remote address is not an IP and port
)

// Reasons returns every refusal reason, for pre-initialising label sets.
func Reasons() []string { return []string{MaxConns, MaxPerIP, BadRemote} }

// Limiter admits connections while fewer than maxConns are open in total and
// fewer than maxPerIP from the same remote IP (IPv4-mapped IPv6 addresses
// count as their IPv4 address). It is safe for concurrent use.
type Limiter struct {
	maxConns, maxPerIP int

	mu    sync.Mutex // guards conns and perIP
	conns int
	perIP map[netip.Addr]int
}

// New returns a Limiter with the given limits; a limit of zero or less
// admits nothing.
func New(maxConns, maxPerIP int) *Limiter {
	return &Limiter{maxConns: maxConns, maxPerIP: maxPerIP, perIP: make(map[netip.Addr]int)}
}

// Admit counts a connection from remote against the limits. If it is
// admitted, reason is "" and release must be called once the connection
// ends (further calls do nothing). Otherwise release is nil and reason is
// one of MaxConns, MaxPerIP or BadRemote.
func (l *Limiter) Admit(remote net.Addr) (release func(), reason string) {
	if remote == nil {
		return nil, BadRemote
	}
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return nil, BadRemote
	}
	ip := ap.Addr().Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.conns >= l.maxConns:
		return nil, MaxConns
	case l.perIP[ip] >= l.maxPerIP:
		return nil, MaxPerIP
	}
	l.conns++
	l.perIP[ip]++
	var once sync.Once
	return func() { once.Do(func() { l.release(ip) }) }, ""
}

func (l *Limiter) release(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns--
	if n := l.perIP[ip] - 1; n > 0 {
		l.perIP[ip] = n
	} else {
		delete(l.perIP, ip)
	}
}

// Open returns how many admitted connections have not been released.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns
}
