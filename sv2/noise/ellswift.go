package noise

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ellswift"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// EllSwiftSize is the size of an ElligatorSwift-encoded public key (u ‖ t).
const EllSwiftSize = 64

// keyPair is a secp256k1 key with the ElligatorSwift encoding of its public
// key, the form every handshake key takes on the wire.
type keyPair struct {
	priv  *btcec.PrivateKey
	ell   [EllSwiftSize]byte
	xonly [32]byte // x-coordinate of the public key
}

// maxKeyAttempts bounds the rejection sampling loops; each attempt succeeds
// with probability ≥ 1/4 for the encoding and ~1 for the scalar, so hitting
// the bound means the randomness source is broken.
const maxKeyAttempts = 256

// generateKeyPair draws a private key and a random ElligatorSwift encoding
// of its public key from rng, as BIP324's ellswift_create does.
func generateKeyPair(rng io.Reader) (keyPair, error) {
	var b [32]byte
	for range maxKeyAttempts {
		if _, err := io.ReadFull(rng, b[:]); err != nil {
			return keyPair{}, fmt.Errorf("%w: reading randomness: %v", ErrInvalidKey, err)
		}
		var s btcec.ModNScalar
		if overflow := s.SetBytes(&b); overflow != 0 || s.IsZero() {
			continue
		}
		return keyPairFromScalar(rng, &s)
	}
	return keyPair{}, fmt.Errorf("%w: randomness source produced no valid scalar", ErrInvalidKey)
}

// keyPairFromScalar encodes the public key of s with a random
// ElligatorSwift encoding drawn from rng.
func keyPairFromScalar(rng io.Reader, s *btcec.ModNScalar) (keyPair, error) {
	kp := keyPair{priv: btcec.PrivKeyFromScalar(s)}
	var p btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(s, &p)
	p.ToAffine()
	x := p.X
	x.Normalize()
	kp.xonly = *x.Bytes()

	var buf [33]byte
	for range maxKeyAttempts {
		if _, err := io.ReadFull(rng, buf[:]); err != nil {
			return keyPair{}, fmt.Errorf("%w: reading randomness: %v", ErrInvalidKey, err)
		}
		var u btcec.FieldVal
		if overflow := u.SetByteSlice(buf[:32]); overflow {
			u.Normalize()
		}
		if u.IsZero() { // u = 0 decodes as u = 1; BIP324 draws u from [1, p)
			continue
		}
		t := ellswift.XSwiftECInv(&u, &x, int(buf[32]&7))
		if t == nil {
			continue
		}
		u.PutBytesUnchecked(kp.ell[:32])
		t.PutBytesUnchecked(kp.ell[32:])
		return kp, nil
	}
	return keyPair{}, fmt.Errorf("%w: randomness source produced no ElligatorSwift encoding", ErrInvalidKey)
}

// decodeEllSwift returns the x-coordinate encoded by a 64-byte
// ElligatorSwift key. Every 64-byte string decodes (BIP324); the error is a
// backstop.
func decodeEllSwift(ell [EllSwiftSize]byte) ([32]byte, error) {
	var u, t btcec.FieldVal
	if u.SetByteSlice(ell[:32]) {
		u.Normalize()
	}
	if t.SetByteSlice(ell[32:]) {
		t.Normalize()
	}
	x, err := ellswift.XSwiftEC(&u, &t) // mutates u and t: they are copies
	if err != nil {
		return [32]byte{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return *x.Bytes(), nil
}

// peerKey is a decoded ElligatorSwift public key: its encoding and the
// curve point with that x-coordinate (either Y works for x-only ECDH).
type peerKey struct {
	ell   [EllSwiftSize]byte
	point btcec.JacobianPoint
}

// decodePeerKey decodes ell once so that several ECDHs can share the work.
func decodePeerKey(ell [EllSwiftSize]byte) (peerKey, error) {
	x, err := decodeEllSwift(ell)
	if err != nil {
		return peerKey{}, err
	}
	pub, err := schnorr.ParsePubKey(x[:]) // lift_x: even Y
	if err != nil {
		return peerKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	pk := peerKey{ell: ell}
	pub.AsJacobian(&pk.point)
	return pk, nil
}

// ecdh is BIP324 v2_ecdh: SHA256(T‖T‖ell_initiator‖ell_responder‖x) with
// T = SHA256("bip324_ellswift_xonly_ecdh"), where x is the x-coordinate of
// priv·theirs. The initiator's encoding always comes first.
func ecdh(priv *btcec.PrivateKey, ours [EllSwiftSize]byte, theirs *peerKey, initiating bool) [32]byte {
	var shared btcec.JacobianPoint
	btcec.ScalarMultNonConst(&priv.Key, &theirs.point, &shared)
	shared.ToAffine()
	x := shared.X.Bytes()

	first, second := &ours, &theirs.ell
	if !initiating {
		first, second = second, first
	}
	tag := sha256.Sum256([]byte("bip324_ellswift_xonly_ecdh"))
	h := sha256.New()
	h.Write(tag[:])
	h.Write(tag[:])
	h.Write(first[:])
	h.Write(second[:])
	h.Write(x[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}
