package keys

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/base58"
)

// PublicKeyVersion is the only authority public key version defined by the
// specification; it is the little-endian U16 prefix of the payload.
const PublicKeyVersion = 1

const (
	xonlyLen          = 32
	checksumLen       = 4
	publicPayloadLen  = 2 + xonlyLen
	maxEncodedKeyLen  = 128 // far above any valid encoding; bounds base58 work
	maxSecretFileSize = 4096
)

// Errors returned by the parsers. Each is wrapped with context; test with
// errors.Is.
var (
	// ErrBase58 means the string contains a character outside the Bitcoin
	// base58 alphabet, or is empty or absurdly long.
	ErrBase58 = errors.New("keys: invalid base58 string")
	// ErrChecksum means the 4-byte base58check checksum does not match.
	ErrChecksum = errors.New("keys: base58check checksum mismatch")
	// ErrKeyLength means the decoded payload has the wrong length.
	ErrKeyLength = errors.New("keys: wrong key payload length")
	// ErrKeyVersion means the public key's version prefix is not 1.
	ErrKeyVersion = errors.New("keys: unsupported public key version")
	// ErrInvalidKey means the bytes are not a valid secp256k1 x-coordinate or
	// secret scalar.
	ErrInvalidKey = errors.New("keys: invalid secp256k1 key")
	// ErrInsecureFile means a secret key file is readable or writable by the
	// group or by others.
	ErrInsecureFile = errors.New("keys: secret key file permissions too open")
)

// PublicKey is a BIP340 x-only secp256k1 public key (implicit even Y), the
// form in which Stratum V2 certificates name the authority. The zero value is
// not a valid key; obtain one from ParsePublicKey, PublicKeyFromBytes or
// SecretKey.PublicKey.
type PublicKey [xonlyLen]byte

// PublicKeyFromBytes checks that b is a 32-byte x-coordinate on the curve.
func PublicKeyFromBytes(b []byte) (PublicKey, error) {
	var pk PublicKey
	if len(b) != xonlyLen {
		return pk, fmt.Errorf("%w: %d bytes, want %d", ErrKeyLength, len(b), xonlyLen)
	}
	if _, err := schnorr.ParsePubKey(b); err != nil {
		return pk, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	copy(pk[:], b)
	return pk, nil
}

// ParsePublicKey decodes an authority public key string
// (base58check([0x01,0x00] ‖ xonly32)). It rejects bad characters, bad
// checksums, payloads that are not 34 bytes, versions other than 1 and
// x-coordinates that are not on the curve.
func ParsePublicKey(s string) (PublicKey, error) {
	payload, err := decodeCheck(s)
	if err != nil {
		return PublicKey{}, err
	}
	if len(payload) != publicPayloadLen {
		return PublicKey{}, fmt.Errorf("%w: public key payload is %d bytes, want %d", ErrKeyLength, len(payload), publicPayloadLen)
	}
	if v := uint16(payload[0]) | uint16(payload[1])<<8; v != PublicKeyVersion {
		return PublicKey{}, fmt.Errorf("%w: %d", ErrKeyVersion, v)
	}
	return PublicKeyFromBytes(payload[2:])
}

// String returns the base58check encoding that miners configure.
func (pk PublicKey) String() string {
	payload := make([]byte, 0, publicPayloadLen)
	payload = append(payload, PublicKeyVersion&0xff, PublicKeyVersion>>8)
	payload = append(payload, pk[:]...)
	return encodeCheck(payload)
}

// SchnorrKey returns the curve point for BIP340 verification.
func (pk PublicKey) SchnorrKey() (*btcec.PublicKey, error) {
	k, err := schnorr.ParsePubKey(pk[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return k, nil
}

// SecretKey is an authority secret key. Its String method does not reveal
// the key; use Encode for the base58check form.
type SecretKey struct {
	priv *btcec.PrivateKey
}

// GenerateSecretKey draws a secret key from rng (use crypto/rand.Reader in
// production). It retries on the negligible chance of a zero or
// out-of-range scalar.
func GenerateSecretKey(rng io.Reader) (*SecretKey, error) {
	var b [32]byte
	for range 128 {
		if _, err := io.ReadFull(rng, b[:]); err != nil {
			return nil, fmt.Errorf("keys: reading randomness: %w", err)
		}
		if sk, err := SecretKeyFromBytes(b[:]); err == nil {
			return sk, nil
		}
	}
	return nil, fmt.Errorf("%w: randomness source produced no valid scalar", ErrInvalidKey)
}

// SecretKeyFromBytes interprets b as a big-endian scalar in [1, n-1].
func SecretKeyFromBytes(b []byte) (*SecretKey, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("%w: secret is %d bytes, want 32", ErrKeyLength, len(b))
	}
	var s btcec.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, fmt.Errorf("%w: secret scalar out of range", ErrInvalidKey)
	}
	return &SecretKey{priv: btcec.PrivKeyFromScalar(&s)}, nil
}

// ParseSecretKey decodes an SRI secret key string (base58check of the raw
// 32-byte scalar).
func ParseSecretKey(s string) (*SecretKey, error) {
	payload, err := decodeCheck(s)
	if err != nil {
		return nil, err
	}
	return SecretKeyFromBytes(payload)
}

// Encode returns the base58check string of the secret scalar.
func (k *SecretKey) Encode() string {
	b := k.priv.Key.Bytes()
	return encodeCheck(b[:])
}

// String implements fmt.Stringer without revealing the secret.
func (k *SecretKey) String() string { return "keys.SecretKey(" + k.PublicKey().String() + ")" }

// PrivateKey returns the underlying btcec key for signing.
func (k *SecretKey) PrivateKey() *btcec.PrivateKey { return k.priv }

// PublicKey returns the x-only public key of k.
func (k *SecretKey) PublicKey() PublicKey {
	var pk PublicKey
	copy(pk[:], schnorr.SerializePubKey(k.priv.PubKey()))
	return pk
}

// LoadSecretKeyFile reads a secret key string from path. Surrounding
// whitespace is ignored. It refuses files that are not regular files or whose
// permissions grant any access to group or others (ErrInsecureFile).
func LoadSecretKeyFile(path string) (*SecretKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600 or stricter", ErrInsecureFile, path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("keys: reading %s: %w", path, err)
	}
	if len(b) > maxSecretFileSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrBase58, path, maxSecretFileSize)
	}
	sk, err := ParseSecretKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("keys: %s: %w", path, err)
	}
	return sk, nil
}

// WriteSecretKeyFile writes k's string form and a newline to path with mode
// 0600. It fails if path already exists, so a key is never overwritten.
func WriteSecretKeyFile(path string, k *SecretKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if _, err := f.WriteString(k.Encode() + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("keys: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keys: syncing %s: %w", path, err)
	}
	return f.Close()
}

func checksum(payload []byte) [checksumLen]byte {
	a := sha256.Sum256(payload)
	b := sha256.Sum256(a[:])
	var c [checksumLen]byte
	copy(c[:], b[:checksumLen])
	return c
}

func encodeCheck(payload []byte) string {
	c := checksum(payload)
	buf := make([]byte, 0, len(payload)+checksumLen)
	buf = append(buf, payload...)
	buf = append(buf, c[:]...)
	return base58.Encode(buf)
}

func decodeCheck(s string) ([]byte, error) {
	if s == "" || len(s) > maxEncodedKeyLen {
		return nil, fmt.Errorf("%w: length %d", ErrBase58, len(s))
	}
	raw := base58.Decode(s)
	if len(raw) == 0 {
		return nil, ErrBase58
	}
	if len(raw) < checksumLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrKeyLength, len(raw))
	}
	payload, sum := raw[:len(raw)-checksumLen], raw[len(raw)-checksumLen:]
	want := checksum(payload)
	if !bytes.Equal(sum, want[:]) {
		return nil, ErrChecksum
	}
	return payload, nil
}
