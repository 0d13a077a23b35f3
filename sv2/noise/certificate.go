package noise

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/adit-pool/adit/sv2/codec"
	"github.com/adit-pool/adit/sv2/keys"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// CertificateSize is the size of SIGNATURE_NOISE_MESSAGE.
const CertificateSize = 2 + 4 + 4 + 64

// CertificateLeeway is the clock tolerance the initiator applies on both
// ends of the validity window, as the reference implementation does.
const CertificateLeeway = 10 * time.Second

// Certificate is SIGNATURE_NOISE_MESSAGE: the authority's BIP340 signature
// over SHA256(version ‖ valid_from ‖ not_valid_after ‖ xonly(server static)),
// integers little-endian, times in Unix seconds.
type Certificate struct {
	Version       uint16
	ValidFrom     uint32
	NotValidAfter uint32
	Signature     codec.Signature
}

// AppendTo appends the 74-byte wire form.
func (c *Certificate) AppendTo(dst []byte) []byte {
	e := codec.NewEncoder(dst, "SignatureNoiseMessage")
	e.U16(c.Version)
	e.U32(c.ValidFrom)
	e.U32(c.NotValidAfter)
	e.Signature(c.Signature)
	out, _ := e.Bytes() // fixed-size fields cannot fail
	return out
}

// ParseCertificate decodes exactly CertificateSize bytes.
func ParseCertificate(b []byte) (Certificate, error) {
	d := codec.NewDecoder(b, "SignatureNoiseMessage")
	c := Certificate{
		Version:       d.U16("version"),
		ValidFrom:     d.U32("valid_from"),
		NotValidAfter: d.U32("not_valid_after"),
		Signature:     d.Signature("signature"),
	}
	return c, d.Finish()
}

// certificateHash is the message the authority signs.
func certificateHash(version uint16, validFrom, notValidAfter uint32, static [32]byte) [32]byte {
	var m [2 + 4 + 4 + 32]byte
	binary.LittleEndian.PutUint16(m[0:], version)
	binary.LittleEndian.PutUint32(m[2:], validFrom)
	binary.LittleEndian.PutUint32(m[6:], notValidAfter)
	copy(m[10:], static[:])
	return sha256.Sum256(m[:])
}

// SignCertificate signs a version-0 certificate for the server static key
// whose x-coordinate is static, valid from validFrom to notValidAfter
// (truncated to seconds; both must lie in the U32 Unix-time range).
func SignCertificate(authority *keys.SecretKey, static [32]byte, validFrom, notValidAfter time.Time) (Certificate, error) {
	from, until := validFrom.Unix(), notValidAfter.Unix()
	if from < 0 || until < from || until > math.MaxUint32 {
		return Certificate{}, fmt.Errorf("%w: certificate window %v..%v", ErrConfig, validFrom, notValidAfter)
	}
	c := Certificate{ValidFrom: uint32(from), NotValidAfter: uint32(until)}
	h := certificateHash(c.Version, c.ValidFrom, c.NotValidAfter, static)
	sig, err := schnorr.Sign(authority.PrivateKey(), h[:])
	if err != nil {
		return Certificate{}, fmt.Errorf("noise: signing certificate: %w", err)
	}
	copy(c.Signature[:], sig.Serialize())
	return c, nil
}

// Verify checks that c was signed by authority for the server static key
// whose x-coordinate is static, and that now lies within
// [valid_from − leeway, not_valid_after + leeway].
func (c *Certificate) Verify(authority keys.PublicKey, static [32]byte, now time.Time) error {
	pub, err := authority.SchnorrKey()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCertificateSignature, err)
	}
	sig, err := schnorr.ParseSignature(c.Signature[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCertificateSignature, err)
	}
	h := certificateHash(c.Version, c.ValidFrom, c.NotValidAfter, static)
	if !sig.Verify(h[:], pub) {
		return ErrCertificateSignature
	}
	leeway := int64(CertificateLeeway / time.Second)
	switch t := now.Unix(); {
	case t < int64(c.ValidFrom)-leeway:
		return fmt.Errorf("%w: valid from %d, now %d", ErrCertificateNotYetValid, c.ValidFrom, t)
	case t > int64(c.NotValidAfter)+leeway:
		return fmt.Errorf("%w: valid until %d, now %d", ErrCertificateExpired, c.NotValidAfter, t)
	}
	return nil
}

// CertifiedKey is a server static key with its certificate. It is immutable
// and safe to share between concurrent handshakes.
type CertifiedKey struct {
	key         keyPair
	Certificate Certificate
}

// NewCertifiedKey draws a static key from rng and has authority sign it for
// [validFrom, notValidAfter].
func NewCertifiedKey(rng io.Reader, authority *keys.SecretKey, validFrom, notValidAfter time.Time) (*CertifiedKey, error) {
	kp, err := generateKeyPair(rng)
	if err != nil {
		return nil, err
	}
	cert, err := SignCertificate(authority, kp.xonly, validFrom, notValidAfter)
	if err != nil {
		return nil, err
	}
	return &CertifiedKey{key: kp, Certificate: cert}, nil
}

// StaticXOnly returns the x-coordinate of the static public key.
func (k *CertifiedKey) StaticXOnly() [32]byte { return k.key.xonly }

// KeySource supplies the certified static key for each handshake. It must be
// safe for concurrent use.
type KeySource interface {
	CertifiedKey() (*CertifiedKey, error)
}

// KeyRotator is a KeySource that signs a fresh static key when the current
// one has used half of its validity. Certificates are back-dated by
// Backdate so clients whose clocks run slightly behind accept them. The
// reference implementation signs a new key per connection; reusing one for
// a bounded time keeps the handshake cost at two ECDHs and no signature.
type KeyRotator struct {
	Authority *keys.SecretKey
	Validity  time.Duration    // certificate lifetime; 0 means one hour
	Backdate  time.Duration    // 0 means one minute
	Now       func() time.Time // nil means time.Now
	Rand      io.Reader        // nil means crypto/rand.Reader

	mu      sync.Mutex
	current *CertifiedKey
	renewAt time.Time
}

// CertifiedKey implements KeySource.
func (r *KeyRotator) CertifiedKey() (*CertifiedKey, error) {
	if r.Authority == nil {
		return nil, fmt.Errorf("%w: KeyRotator without an authority key", ErrConfig)
	}
	now := nowFunc(r.Now)()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil && now.Before(r.renewAt) {
		return r.current, nil
	}
	validity, backdate := r.Validity, r.Backdate
	if validity <= 0 {
		validity = time.Hour
	}
	if backdate <= 0 {
		backdate = time.Minute
	}
	k, err := NewCertifiedKey(randReader(r.Rand), r.Authority, now.Add(-backdate), now.Add(validity))
	if err != nil {
		return nil, err
	}
	r.current, r.renewAt = k, now.Add(validity/2)
	return k, nil
}

// FixedKey is a KeySource that always returns the same key (tests, or
// operators who manage rotation themselves).
type FixedKey struct{ Key *CertifiedKey }

// CertifiedKey implements KeySource.
func (f FixedKey) CertifiedKey() (*CertifiedKey, error) {
	if f.Key == nil {
		return nil, fmt.Errorf("%w: FixedKey without a key", ErrConfig)
	}
	return f.Key, nil
}
