package share

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// forEachImpl runs fn once per SHA-256 implementation this CPU can run: the
// pure-Go compression always, SHA-NI when present. (Under -tags purego only
// the generic one exists.)
func forEachImpl(t *testing.T, fn func(t *testing.T)) {
	t.Helper()
	saved := useSHANI
	defer func() { useSHANI = saved }()
	useSHANI = false
	t.Run("generic", fn)
	if haveSHANI {
		useSHANI = true
		t.Run("sha-ni", fn)
	} else {
		t.Log("SHA-NI not available on this CPU/build: only the generic path ran")
	}
}

func TestSHA256Impls(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		buf := make([]byte, 1100)
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		for n := 0; n <= len(buf); n++ {
			b := buf[:n]
			if sha256d(b) != refSHA256d(b) || DoubleSHA256(b) != refSHA256d(b) {
				t.Fatalf("sha256d len %d", n)
			}
		}
		// streaming many blocks in one call equals crypto/sha256
		for nb := 1; nb <= 17; nb++ {
			data := buf[:64*nb]
			s := sha256IV
			sha256Block(&s, data)
			// pad
			var pad [64]byte
			pad[0] = 0x80
			L := uint64(len(data)) << 3
			for i := 0; i < 8; i++ {
				pad[63-i] = byte(L >> (8 * i))
			}
			sha256Block(&s, pad[:])
			var got [32]byte
			putState(&got, &s)
			if got != sha256.Sum256(data) {
				t.Fatalf("%d blocks", nb)
			}
		}
		// fixed shapes
		for i := 0; i < 200; i++ {
			a, b := randHash(r), randHash(r)
			want := refSHA256d(append(a[:], b[:]...))
			merkleStep(&a, &b)
			if a != want {
				t.Fatal("merkleStep")
			}
			var hdr [80]byte
			for k := range hdr {
				hdr[k] = byte(r.Uint32())
			}
			mid := sha256IV
			sha256Block(&mid, hdr[:64])
			var tail headerTail
			tail.init()
			copy(tail[:16], hdr[64:])
			var out [32]byte
			hashHeader(&out, &mid, &tail)
			if out != refSHA256d(hdr[:]) {
				t.Fatal("hashHeader")
			}
		}
		for pl := 0; pl < 200; pl += 7 {
			for _, enl := range []int{0, 1, 8, 32} {
				for _, sl := range []int{0, 9, 60, 150} {
					all := make([]byte, pl+enl+sl)
					for k := range all {
						all[k] = byte(r.Uint32())
					}
					c := newCoinbaseHasher(all[:pl], enl, all[pl+enl:])
					var scratch []byte
					var out [32]byte
					cut := enl / 2
					c.txid(&out, &scratch, all[pl:pl+cut], all[pl+cut:pl+enl])
					if out != refSHA256d(all) {
						t.Fatalf("coinbase hasher prefix %d en %d suffix %d", pl, enl, sl)
					}
				}
			}
		}
	})
}
