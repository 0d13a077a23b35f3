package noise

import (
	"crypto/rand"
	"fmt"
	"io"
	"time"
)

// Handshake message sizes.
const (
	// Act1Size is the initiator's message: its ephemeral key, no payload.
	Act1Size = EllSwiftSize
	// Act2Size is the responder's message: e(64) ‖ enc(s)(64+16) ‖
	// enc(SIGNATURE_NOISE_MESSAGE)(74+16). The specification's "170 bytes"
	// is stale; the reference implementation sends 234.
	Act2Size = EllSwiftSize + EllSwiftSize + TagSize + CertificateSize + TagSize
)

func nowFunc(f func() time.Time) func() time.Time {
	if f == nil {
		return time.Now
	}
	return f
}

func randReader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// initiatorHandshake is the initiator's side of NX with no I/O:
// start → act1 → finish(act2).
type initiatorHandshake struct {
	ss symmetricState
	e  keyPair
}

// start generates the ephemeral key and returns Act 1: -> e.
func (hs *initiatorHandshake) start(rng io.Reader) ([Act1Size]byte, error) {
	hs.ss.initialize()
	e, err := generateKeyPair(rng)
	if err != nil {
		return [Act1Size]byte{}, err
	}
	hs.e = e
	hs.ss.mixHash(e.ell[:])
	hs.ss.mixHash(nil) // EncryptAndHash of the empty payload without a key
	return e.ell, nil
}

// handshakeResult is what a completed handshake yields.
type handshakeResult struct {
	send, recv   cipherState
	remoteStatic [32]byte     // initiator only: x-coordinate of the server static key
	cert         *Certificate // initiator only
	h            [32]byte     // final handshake hash
}

// finish processes Act 2: <- e, ee, s, es, then the certificate payload.
// It does not verify the certificate; the caller does.
func (hs *initiatorHandshake) finish(act2 []byte) (handshakeResult, error) {
	if len(act2) != Act2Size {
		return handshakeResult{}, fmt.Errorf("act 2 is %d bytes, want %d", len(act2), Act2Size)
	}
	var re [EllSwiftSize]byte
	copy(re[:], act2[:EllSwiftSize])
	hs.ss.mixHash(re[:])
	rePeer, err := decodePeerKey(re)
	if err != nil {
		return handshakeResult{}, err
	}
	ee := ecdh(hs.e.priv, hs.e.ell, &rePeer, true)
	hs.ss.mixKey(ee[:])

	encS := act2[EllSwiftSize : 2*EllSwiftSize+TagSize]
	sBytes, err := hs.ss.decryptAndHash(make([]byte, 0, EllSwiftSize), encS)
	if err != nil {
		return handshakeResult{}, fmt.Errorf("static key: %w", err)
	}
	var rs [EllSwiftSize]byte
	copy(rs[:], sBytes)
	rsPeer, err := decodePeerKey(rs)
	if err != nil {
		return handshakeResult{}, err
	}
	es := ecdh(hs.e.priv, hs.e.ell, &rsPeer, true)
	hs.ss.mixKey(es[:])

	certBytes, err := hs.ss.decryptAndHash(make([]byte, 0, CertificateSize), act2[2*EllSwiftSize+TagSize:])
	if err != nil {
		return handshakeResult{}, fmt.Errorf("certificate: %w", err)
	}
	cert, err := ParseCertificate(certBytes)
	if err != nil {
		return handshakeResult{}, err
	}
	var xs [32]byte
	rsPeer.point.X.PutBytes(&xs) // affine and normalized
	c1, c2 := hs.ss.split()
	return handshakeResult{send: c1, recv: c2, remoteStatic: xs, cert: &cert, h: hs.ss.h}, nil
}

// respond runs the responder's side of NX with no I/O: it consumes Act 1
// and returns Act 2 and the transport cipher states.
func respond(rng io.Reader, static *CertifiedKey, act1 []byte) ([]byte, handshakeResult, error) {
	if len(act1) != Act1Size {
		return nil, handshakeResult{}, fmt.Errorf("act 1 is %d bytes, want %d", len(act1), Act1Size)
	}
	var ss symmetricState
	ss.initialize()
	var ie [EllSwiftSize]byte
	copy(ie[:], act1)
	ss.mixHash(ie[:])
	iePeer, err := decodePeerKey(ie) // shared by ee and es
	if err != nil {
		return nil, handshakeResult{}, err
	}
	ss.mixHash(nil) // the initiator's empty payload

	// All curve work up front: the ephemeral key and both shared points,
	// with one field inversion between them.
	e, xee, xes, err := responderKeys(rng, &static.key, &iePeer)
	if err != nil {
		return nil, handshakeResult{}, err
	}
	out := make([]byte, 0, Act2Size)
	out = append(out, e.ell[:]...)
	ss.mixHash(e.ell[:])
	ee := ecdhHash(&xee, &e.ell, &iePeer.ell, false)
	ss.mixKey(ee[:])
	if out, err = ss.encryptAndHash(out, static.key.ell[:]); err != nil {
		return nil, handshakeResult{}, err
	}
	es := ecdhHash(&xes, &static.key.ell, &iePeer.ell, false)
	ss.mixKey(es[:])
	var cert [CertificateSize]byte
	if out, err = ss.encryptAndHash(out, static.Certificate.AppendTo(cert[:0])); err != nil {
		return nil, handshakeResult{}, err
	}
	c1, c2 := ss.split()
	return out, handshakeResult{send: c2, recv: c1, h: ss.h}, nil
}
