package noise

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/adit-pool/adit/sv2/ellswift"
	"github.com/btcsuite/btcd/btcec/v2"
)

// EllSwiftSize is the size of an ElligatorSwift-encoded public key (u ‖ t).
const EllSwiftSize = ellswift.Size

// keyPair is a secp256k1 key with the ElligatorSwift encoding of its public
// key, the form every handshake key takes on the wire.
type keyPair struct {
	priv  *btcec.PrivateKey
	ell   [EllSwiftSize]byte
	xonly [32]byte // x-coordinate of the public key
}

// maxKeyAttempts bounds the scalar rejection sampling loop; an attempt
// fails with probability ~2^-128, so hitting the bound means the
// randomness source is broken. (ellswift.Encode bounds its own loop.)
const maxKeyAttempts = 256

// generateScalar draws a private scalar in [1, n) from rng.
func generateScalar(rng io.Reader) (btcec.ModNScalar, error) {
	var b [32]byte
	for range maxKeyAttempts {
		if _, err := io.ReadFull(rng, b[:]); err != nil {
			return btcec.ModNScalar{}, fmt.Errorf("%w: reading randomness: %v", ErrInvalidKey, err)
		}
		var s btcec.ModNScalar
		if overflow := s.SetBytes(&b); overflow != 0 || s.IsZero() {
			continue
		}
		return s, nil
	}
	return btcec.ModNScalar{}, fmt.Errorf("%w: randomness source produced no valid scalar", ErrInvalidKey)
}

// generateKeyPair draws a private key and a random ElligatorSwift encoding
// of its public key from rng, as BIP324's ellswift_create does.
func generateKeyPair(rng io.Reader) (keyPair, error) {
	s, err := generateScalar(rng)
	if err != nil {
		return keyPair{}, err
	}
	return keyPairFromScalar(rng, &s)
}

// keyPairFromScalar encodes the public key of s with a random
// ElligatorSwift encoding drawn from rng.
func keyPairFromScalar(rng io.Reader, s *btcec.ModNScalar) (keyPair, error) {
	var p btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(s, &p)
	p.ToAffine()
	return encodeKeyPair(rng, s, &p.X)
}

// encodeKeyPair completes a key pair from its scalar and the (affine,
// normalized) x-coordinate of its public key.
func encodeKeyPair(rng io.Reader, s *btcec.ModNScalar, x *btcec.FieldVal) (keyPair, error) {
	kp := keyPair{priv: btcec.PrivKeyFromScalar(s)}
	x.PutBytes(&kp.xonly)
	if err := ellswift.Encode(rng, x, &kp.ell); err != nil {
		return keyPair{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return kp, nil
}

// decodeEllSwift returns the x-coordinate encoded by a 64-byte
// ElligatorSwift key. Every 64-byte string decodes (BIP324); the error is a
// backstop.
func decodeEllSwift(ell [EllSwiftSize]byte) ([32]byte, error) {
	x, _, err := ellswift.DecodeBytes(&ell)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return *x.Bytes(), nil
}

// peerKey is a decoded ElligatorSwift public key: its encoding and an
// affine curve point (Z = 1) with that x-coordinate (either Y works for
// x-only ECDH).
type peerKey struct {
	ell   [EllSwiftSize]byte
	point btcec.JacobianPoint
}

// decodePeerKey decodes ell once so that several ECDHs can share the work.
// The decoder returns the lifted point directly (no second square root).
func decodePeerKey(ell [EllSwiftSize]byte) (peerKey, error) {
	x, y, err := ellswift.DecodeBytes(&ell)
	if err != nil {
		return peerKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	pk := peerKey{ell: ell}
	pk.point.X = x
	pk.point.Y = y
	pk.point.Z.SetInt(1)
	return pk, nil
}

// xOnly returns the 32-byte x-coordinate of a Jacobian point given 1/Z²:
// X·(1/Z²).
func xOnly(p *btcec.JacobianPoint, zInv2 *btcec.FieldVal) [32]byte {
	var x btcec.FieldVal
	x.Mul2(&p.X, zInv2).Normalize()
	return *x.Bytes()
}

// sharedX returns the x-coordinate of k·P (P affine). k·P is never the
// point at infinity: P is on the prime-order curve and k ∈ [1, n).
func sharedX(k *btcec.ModNScalar, p *btcec.JacobianPoint) [32]byte {
	var r btcec.JacobianPoint
	btcec.ScalarMultNonConst(k, p, &r)
	var zi btcec.FieldVal
	zi.SquareVal(&r.Z).Inverse()
	return xOnly(&r, &zi)
}

// ecdhHash is BIP324 v2_ecdh: SHA256(T‖T‖ell_initiator‖ell_responder‖x)
// with T = SHA256("bip324_ellswift_xonly_ecdh"), x the x-coordinate of the
// shared point. The initiator's encoding always comes first.
func ecdhHash(x *[32]byte, ours, theirs *[EllSwiftSize]byte, initiating bool) [32]byte {
	first, second := ours, theirs
	if !initiating {
		first, second = second, first
	}
	var buf [2*32 + 2*EllSwiftSize + 32]byte
	copy(buf[0:32], ecdhTag[:])
	copy(buf[32:64], ecdhTag[:])
	copy(buf[64:128], first[:])
	copy(buf[128:192], second[:])
	copy(buf[192:], x[:])
	return sha256.Sum256(buf[:])
}

var ecdhTag = sha256.Sum256([]byte("bip324_ellswift_xonly_ecdh"))

// ecdh is BIP324 v2_ecdh between priv (whose encoding is ours) and theirs.
func ecdh(priv *btcec.PrivateKey, ours [EllSwiftSize]byte, theirs *peerKey, initiating bool) [32]byte {
	x := sharedX(&priv.Key, &theirs.point)
	return ecdhHash(&x, &ours, &theirs.ell, initiating)
}

// responderKeys does the responder's elliptic-curve work for one handshake
// in one go: it draws the ephemeral scalar e from rng, computes e·G, e·I and
// s·I (I the initiator's ephemeral point, s the static key) in Jacobian
// coordinates, converts all three with a single field inversion
// (Montgomery's trick), and then encodes e·G, drawing the encoding's
// randomness from rng after the scalar's, exactly as generateKeyPair would.
// It returns the ephemeral key pair and the x-coordinates of e·I and s·I.
func responderKeys(rng io.Reader, static *keyPair, ie *peerKey) (e keyPair, xee, xes [32]byte, err error) {
	k, err := generateScalar(rng)
	if err != nil {
		return keyPair{}, xee, xes, err
	}
	var pub, ee, es btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &pub)
	btcec.ScalarMultNonConst(&k, &ie.point, &ee)
	btcec.ScalarMultNonConst(&static.priv.Key, &ie.point, &es)

	// None of the Z are zero (no point at infinity: prime order, k, s ≠ 0).
	// a = Z_pub², b = Z_ee², c = Z_es²; inv = 1/(a·b·c).
	var a, b, c, ab, inv btcec.FieldVal
	a.SquareVal(&pub.Z)
	b.SquareVal(&ee.Z)
	c.SquareVal(&es.Z)
	ab.Mul2(&a, &b)
	inv.Mul2(&ab, &c).Inverse()
	var ia, ib, ic btcec.FieldVal
	ic.Mul2(&inv, &ab) // 1/c
	inv.Mul(&c)        // 1/(a·b)
	ia.Mul2(&inv, &b)  // 1/a
	ib.Mul2(&inv, &a)  // 1/b

	xee = xOnly(&ee, &ib)
	xes = xOnly(&es, &ic)
	var x btcec.FieldVal
	x.Mul2(&pub.X, &ia).Normalize()
	e, err = encodeKeyPair(rng, &k, &x)
	return e, xee, xes, err
}
