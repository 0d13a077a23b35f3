package farm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/adit-pool/adit/share"
)

func TestSlots(t *testing.T) {
	s := newSlots(1)
	var got [][]byte
	var rel []func()
	for range 256 {
		b, r, err := s.take()
		if err != nil {
			t.Fatal(err)
		}
		got, rel = append(got, b), append(rel, r)
	}
	if !bytes.Equal(got[0], []byte{0}) || !bytes.Equal(got[255], []byte{255}) {
		t.Fatalf("slots %x .. %x", got[0], got[255])
	}
	if _, _, err := s.take(); err == nil {
		t.Fatal("a 257th one-byte slot")
	}
	rel[7]()
	rel[7]() // once
	b, _, err := s.take()
	if err != nil || !bytes.Equal(b, []byte{7}) {
		t.Fatalf("reused slot %x, %v", b, err)
	}
	if _, _, err := s.take(); err == nil {
		t.Fatal("a release counted twice")
	}
	if b, _, _ := newSlots(2).take(); len(b) != 2 {
		t.Fatalf("two-byte slot %x", b)
	}
}

func TestCoinbaseHeight(t *testing.T) {
	head := append([]byte{2, 0, 0, 0, 1}, make([]byte, 32)...)
	head = append(head, 0xff, 0xff, 0xff, 0xff)
	for _, h := range []int64{1, 16, 17, 127, 128, 255, 256, 840000} {
		script := share.AppendBIP34Height(nil, h)
		prefix := append(append(append([]byte(nil), head...), byte(len(script)+8)), script...)
		got, err := coinbaseHeight(prefix)
		if err != nil || got != h {
			t.Fatalf("height %d: got %d, %v", h, got, err)
		}
	}
	if _, err := coinbaseHeight(head); err == nil {
		t.Fatal("a prefix without a scriptSig has a height")
	}
}

func TestModes(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string // the modes, or the error's start
	}{
		{Config{}, "jd pool"},
		{Config{SoloScript: []byte{0x51}}, "jd pool solo"},
		{Config{Modes: []string{"pool", "jd"}}, "pool jd"},
		{Config{Modes: []string{"solo"}}, "farm: solo mode needs"},
		{Config{Modes: []string{"jd", "jd"}}, "farm: mode \"jd\" listed twice"},
		{Config{Modes: []string{"fast"}}, "farm: unknown mode"},
		{Config{Modes: []string{"backup"}}, "farm: backup mode needs"},
	} {
		modes, err := c.cfg.modes()
		got := strings.Join(modes, " ")
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("modes %v: %q, want %q", c.cfg.Modes, got, c.want)
		}
	}
}
