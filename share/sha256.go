package share

import (
	"encoding/binary"
	"math/bits"
)

// This file is the package's own SHA-256: a single compression function
// (block) with a SHA-NI assembly path on amd64 and a pure-Go fallback, and
// the fixed-length double-SHA256 shapes the validator needs (80-byte header
// from a midstate, 64-byte merkle node, coinbase from a per-job midstate).
// crypto/sha256 has no midstate API, which is why this exists; it is checked
// against crypto/sha256 for every length 0..300 on both paths.

// sha256IV is the SHA-256 initial hash value.
var sha256IV = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// useSHANI selects the SHA-NI assembly. It is set at init from CPUID (never
// under the purego build tag) and cleared by tests to exercise the fallback.
var useSHANI = haveSHANI

// sha256Block runs the compression function over p (a multiple of 64 bytes).
func sha256Block(h *[8]uint32, p []byte) {
	if useSHANI {
		blockSHANI(h, p)
		return
	}
	blockGeneric(h, p)
}

// SHA256Impl names the compression function in use: "sha-ni" or "generic".
func SHA256Impl() string {
	if useSHANI {
		return "sha-ni"
	}
	return "generic"
}

// blockGeneric is the portable compression function.
func blockGeneric(h *[8]uint32, p []byte) {
	var w [64]uint32
	h0, h1, h2, h3, h4, h5, h6, h7 := h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
	for len(p) >= 64 {
		for i := 0; i < 16; i++ {
			w[i] = binary.BigEndian.Uint32(p[4*i:])
		}
		for i := 16; i < 64; i++ {
			v1 := w[i-2]
			t1 := bits.RotateLeft32(v1, -17) ^ bits.RotateLeft32(v1, -19) ^ (v1 >> 10)
			v2 := w[i-15]
			t2 := bits.RotateLeft32(v2, -7) ^ bits.RotateLeft32(v2, -18) ^ (v2 >> 3)
			w[i] = t1 + w[i-7] + t2 + w[i-16]
		}
		a, b, c, d, e, f, g, hh := h0, h1, h2, h3, h4, h5, h6, h7
		for i := 0; i < 64; i++ {
			t1 := hh + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) +
				((e & f) ^ (^e & g)) + sha256K[i] + w[i]
			t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) +
				((a & b) ^ (a & c) ^ (b & c))
			hh, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
		}
		h0 += a
		h1 += b
		h2 += c
		h3 += d
		h4 += e
		h5 += f
		h6 += g
		h7 += hh
		p = p[64:]
	}
	h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7] = h0, h1, h2, h3, h4, h5, h6, h7
}

// putState writes a hash state as the 32-byte digest.
func putState(out *[32]byte, h *[8]uint32) {
	for i := 0; i < 8; i++ {
		binary.BigEndian.PutUint32(out[4*i:], h[i])
	}
}

// sha256Final hashes a 32-byte digest (the second SHA-256 of SHA256d): one
// compression of digest ‖ fixed padding for a 256-bit message.
func sha256Final(out *[32]byte, h *[8]uint32) {
	var buf [64]byte
	for i := 0; i < 8; i++ {
		binary.BigEndian.PutUint32(buf[4*i:], h[i])
	}
	buf[32] = 0x80
	buf[62] = 0x01 // length 256 bits
	s := sha256IV
	sha256Block(&s, buf[:])
	putState(out, &s)
}

// sha256d computes SHA256d(b) with this package's compression function.
func sha256d(b []byte) [32]byte {
	s := sha256IV
	n := len(b) &^ 63
	if n > 0 {
		sha256Block(&s, b[:n])
	}
	var tail [128]byte
	r := copy(tail[:], b[n:])
	tail[r] = 0x80
	tl := 64
	if r >= 56 {
		tl = 128
	}
	binary.BigEndian.PutUint64(tail[tl-8:], uint64(len(b))<<3)
	sha256Block(&s, tail[:tl])
	var out [32]byte
	sha256Final(&out, &s)
	return out
}

// merkleStep replaces root with SHA256d(root ‖ node): 3 compressions.
func merkleStep(root, node *[32]byte) {
	var buf [128]byte
	copy(buf[:32], root[:])
	copy(buf[32:64], node[:])
	buf[64] = 0x80
	buf[126] = 0x02 // length 512 bits
	s := sha256IV
	sha256Block(&s, buf[:])
	sha256Final(root, &s)
}

// headerTail is the second 64-byte block of an 80-byte header: bytes 64..80
// of the header followed by the fixed SHA-256 padding for 640 bits.
type headerTail [64]byte

func (t *headerTail) init() {
	*t = headerTail{}
	t[16] = 0x80
	t[62], t[63] = 0x02, 0x80 // 640 bits
}

// hashHeader finishes SHA256d(header) from the midstate of the header's
// first 64 bytes: 2 compressions.
func hashHeader(out *[32]byte, mid *[8]uint32, tail *headerTail) {
	if useSHANI {
		hashHeaderSHANI(out, mid, (*[64]byte)(tail), &sha256IV)
		return
	}
	s := *mid
	sha256Block(&s, tail[:])
	sha256Final(out, &s)
}

// coinbaseHasher is the per-job precomputation of the coinbase txid: the
// midstate after every full 64-byte block of CoinbasePrefix, and the padded
// remainder with a hole for the extranonce at a fixed offset.
type coinbaseHasher struct {
	mid   [8]uint32
	tail  []byte // len multiple of 64: prefix rest ‖ extranonce hole ‖ suffix ‖ padding
	enOff int
	enLen int
}

func newCoinbaseHasher(prefix []byte, enLen int, suffix []byte) coinbaseHasher {
	var c coinbaseHasher
	c.mid = sha256IV
	full := len(prefix) &^ 63
	if full > 0 {
		sha256Block(&c.mid, prefix[:full])
	}
	total := len(prefix) + enLen + len(suffix)
	rest := total - full
	padded := (rest + 1 + 8 + 63) &^ 63
	c.tail = make([]byte, padded)
	n := copy(c.tail, prefix[full:])
	c.enOff, c.enLen = n, enLen
	copy(c.tail[n+enLen:], suffix)
	c.tail[rest] = 0x80
	binary.BigEndian.PutUint64(c.tail[padded-8:], uint64(total)<<3)
	return c
}

// txid hashes the coinbase for the extranonce en1 ‖ en2 (len(en1)+len(en2)
// must equal enLen) using scratch, which it may grow.
func (c *coinbaseHasher) txid(out *[32]byte, scratch *[]byte, en1, en2 []byte) {
	buf := append((*scratch)[:0], c.tail...)
	*scratch = buf
	copy(buf[c.enOff:], en1)
	copy(buf[c.enOff+len(en1):], en2)
	s := c.mid
	sha256Block(&s, buf)
	sha256Final(out, &s)
}
