package noise

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// ProtocolName is the Noise protocol name; its SHA-256 is the initial
// chaining key and, with the empty prologue mixed in, determines h0.
const ProtocolName = "Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256"

// TagSize is the ChaCha20-Poly1305 tag size.
const TagSize = chacha20poly1305.Overhead

// cipherState is a Noise CipherState: a ChaCha20-Poly1305 key and a 64-bit
// counter. The 12-byte nonce is 4 zero bytes ‖ n as u64 little-endian. The
// counter advances only when an operation succeeds. There is no rekey.
type cipherState struct {
	aead cipher.AEAD // nil until a key is set
	n    uint64
}

func (c *cipherState) setKey(k [32]byte) {
	aead, err := chacha20poly1305.New(k[:])
	if err != nil { // impossible: the key size is fixed
		panic(fmt.Sprintf("noise: chacha20poly1305.New: %v", err))
	}
	c.aead, c.n = aead, 0
}

func (c *cipherState) hasKey() bool { return c.aead != nil }

func (c *cipherState) nonce() (nonce [chacha20poly1305.NonceSize]byte, err error) {
	// Noise reserves 2^64-1; reaching it means the connection must end.
	if c.n == math.MaxUint64 {
		return nonce, ErrNonceExhausted
	}
	binary.LittleEndian.PutUint64(nonce[4:], c.n)
	return nonce, nil
}

// encrypt appends the sealed plaintext to dst and advances the counter.
func (c *cipherState) encrypt(dst, ad, plaintext []byte) ([]byte, error) {
	nonce, err := c.nonce()
	if err != nil {
		return nil, err
	}
	out := c.aead.Seal(dst, nonce[:], plaintext, ad)
	c.n++
	return out, nil
}

// decrypt appends the opened ciphertext to dst and advances the counter on
// success only. dst must not overlap ciphertext.
func (c *cipherState) decrypt(dst, ad, ciphertext []byte) ([]byte, error) {
	nonce, err := c.nonce()
	if err != nil {
		return nil, err
	}
	out, err := c.aead.Open(dst, nonce[:], ciphertext, ad)
	if err != nil {
		return nil, ErrDecrypt
	}
	c.n++
	return out, nil
}

// symmetricState is the Noise SymmetricState with SHA-256.
type symmetricState struct {
	ck [32]byte // chaining key
	h  [32]byte // handshake hash
	cs cipherState
}

// initialize runs InitializeSymmetric(ProtocolName) and mixes in the empty
// prologue: h = ck = SHA256(name), then h = SHA256(h).
func (s *symmetricState) initialize() {
	s.h = sha256.Sum256([]byte(ProtocolName)) // the name is longer than 32 bytes
	s.ck = s.h
	s.mixHash(nil)
}

func (s *symmetricState) mixHash(data []byte) {
	d := sha256.New()
	d.Write(s.h[:])
	d.Write(data)
	d.Sum(s.h[:0])
}

// hkdf2 is the Noise HKDF with two outputs: RFC 5869 with salt = ck and
// empty info, i.e. temp = HMAC(ck, ikm), o1 = HMAC(temp, 0x01),
// o2 = HMAC(temp, o1‖0x02).
func hkdf2(ck [32]byte, ikm []byte) (o1, o2 [32]byte) {
	out, err := hkdf.Key(sha256.New, ikm, ck[:], "", 64)
	if err != nil { // impossible: 64 bytes is far below the HKDF limit
		panic(fmt.Sprintf("noise: hkdf: %v", err))
	}
	copy(o1[:], out[:32])
	copy(o2[:], out[32:])
	return o1, o2
}

// mixKey sets ck, k = HKDF(ck, ikm) and resets the nonce.
func (s *symmetricState) mixKey(ikm []byte) {
	ck, k := hkdf2(s.ck, ikm)
	s.ck = ck
	s.cs.setKey(k)
}

// encryptAndHash appends the ciphertext of plaintext (or plaintext itself
// before any key is set) to dst and mixes it into h.
func (s *symmetricState) encryptAndHash(dst, plaintext []byte) ([]byte, error) {
	if !s.cs.hasKey() {
		s.mixHash(plaintext)
		return append(dst, plaintext...), nil
	}
	start := len(dst)
	out, err := s.cs.encrypt(dst, s.h[:], plaintext)
	if err != nil {
		return nil, err
	}
	s.mixHash(out[start:])
	return out, nil
}

// decryptAndHash is the inverse of encryptAndHash.
func (s *symmetricState) decryptAndHash(dst, ciphertext []byte) ([]byte, error) {
	if !s.cs.hasKey() {
		s.mixHash(ciphertext)
		return append(dst, ciphertext...), nil
	}
	out, err := s.cs.decrypt(dst, s.h[:], ciphertext)
	if err != nil {
		return nil, err
	}
	s.mixHash(ciphertext)
	return out, nil
}

// split returns the transport cipher states: c1 carries initiator→responder
// traffic, c2 responder→initiator.
func (s *symmetricState) split() (c1, c2 cipherState) {
	k1, k2 := hkdf2(s.ck, nil)
	c1.setKey(k1)
	c2.setKey(k2)
	return c1, c2
}
