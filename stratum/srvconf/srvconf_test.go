package srvconf

import (
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	d := Limits{MaxConns: 10, MaxConnsPerIP: 5, HandshakeTimeout: time.Second, IdleTimeout: time.Minute,
		WriteTimeout: 2 * time.Second, SendQueue: 8}
	got := Limits{MaxConns: 20}.WithDefaults(d)
	if want := (Limits{MaxConns: 20, MaxConnsPerIP: 5, HandshakeTimeout: time.Second, IdleTimeout: time.Minute,
		WriteTimeout: 2 * time.Second, SendQueue: 8}); got != want {
		t.Fatalf("WithDefaults = %+v, want %+v", got, want)
	}
	if errs := got.Validate(8, "x"); len(errs) != 0 {
		t.Fatalf("valid limits: %v", errs)
	}
	bad := Limits{MaxConns: 2, MaxConnsPerIP: 3, HandshakeTimeout: -1, IdleTimeout: time.Minute, WriteTimeout: time.Second, SendQueue: 2}
	var msgs []string
	for _, e := range bad.Validate(4, "a job and a target") {
		msgs = append(msgs, e.Error())
	}
	want := []string{"max_conns_per_ip 3 exceeds max_conns 2", "handshake_timeout -1ns must be positive",
		"send_queue 2 must be at least 4 (a job and a target)"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Fatalf("Validate:\n got %q\nwant %q", msgs, want)
	}
}
