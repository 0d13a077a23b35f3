package stratum

import (
	"fmt"
	"testing"

	"github.com/adit-pool/adit/share/sharetest"
)

// TestPresence: each worker a session authorizes is one share.Presence
// Online, repeated authorizations of it are not, refused ones never are,
// and all are undone when the connection ends.
func TestPresence(t *testing.T) {
	e, _ := newEnv(t, Config{}, easyDiff)
	b := e.backend
	m := dial(t, e.addr)
	m.handshake("addr1.rig1")
	m.wantResult(m.call(MethodAuthorize, "addr1.rig1", "x"), "true")
	m.wantResult(m.call(MethodAuthorize, "addr1.rig2", "x"), "true")
	m.wantError(m.call(MethodAuthorize, "bad.rig", "x"), CodeUnauthorized)
	m2 := dial(t, e.addr)
	m2.handshake("addr1.rig1")
	want := func(what string, w map[string]int) {
		t.Helper()
		sharetest.Eventually(t, what, func() bool { return fmt.Sprint(b.OnlineWorkers()) == fmt.Sprint(w) })
	}
	want("two sessions online", map[string]int{"v1 addr1.rig1": 2, "v1 addr1.rig2": 1})
	m.c.Close()
	want("first session closed", map[string]int{"v1 addr1.rig1": 1})
	m2.c.Close()
	want("all closed", map[string]int{})
}
