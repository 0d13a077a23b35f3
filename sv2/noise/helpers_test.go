package noise

import (
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/adit-pool/adit/sv2/keys"
)

// detRand is a deterministic io.Reader for reproducible keys.
func detRand(seed byte) io.Reader {
	var s [32]byte
	for i := range s {
		s[i] = seed
	}
	return rand.NewChaCha8(s)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture is an authority and a certified static key valid around epoch.
type fixture struct {
	authority *keys.SecretKey
	static    *CertifiedKey
	epoch     time.Time
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	auth, err := keys.GenerateSecretKey(detRand(1))
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(1_750_000_000, 0)
	static, err := NewCertifiedKey(detRand(2), auth, epoch, epoch.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{authority: auth, static: static, epoch: epoch}
}

func (f fixture) authorityPub() *keys.PublicKey {
	pk := f.authority.PublicKey()
	return &pk
}

func (f fixture) clock(d time.Duration) func() time.Time {
	return func() time.Time { return f.epoch.Add(d) }
}

func keysGenerate(seed byte) (*keys.SecretKey, error) { return keys.GenerateSecretKey(detRand(seed)) }

// nil2rand returns the production randomness source.
func nil2rand() io.Reader { return randReader(nil) }
