package keys

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/adit-pool/adit/share/vectortest"
)

type keyVectors struct {
	Spec struct {
		XOnly   string `json:"raw_ca_public_key_xonly_hex"`
		Encoded string `json:"prefixed_base58check"`
	} `json:"spec_test_vector"`
	SRIPair struct {
		Public struct {
			Encoded string `json:"base58check"`
			XOnly   string `json:"xonly_hex"`
		} `json:"authority_public_key"`
		Secret struct {
			Encoded string `json:"base58check"`
			Hex     string `json:"secret_hex"`
		} `json:"authority_secret_key"`
	} `json:"sri_example_pool_authority_keypair"`
	TP struct {
		Encoded string `json:"base58check"`
		XOnly   string `json:"xonly_hex"`
	} `json:"sri_example_template_provider_public_key"`
	KeyUtils struct {
		Valid struct {
			Secret    string `json:"secret_base58check"`
			SecretHex string `json:"secret_hex"`
			Public    string `json:"public_base58check"`
			XOnly     string `json:"public_xonly_hex"`
		} `json:"valid_pair"`
		Invalid []struct {
			Encoded string `json:"base58check"`
			Err     string `json:"expected_error"`
		} `json:"invalid_public_keys"`
	} `json:"sri_key_utils_test_vectors"`
	Legacy struct {
		Encoded string `json:"base58check"`
	} `json:"unversioned_legacy_encoding_example"`
}

func loadVectors(t *testing.T) keyVectors {
	t.Helper()
	b := vectortest.ReadVector(t, "sv2-keys.json")
	var v keyVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPublicKeyVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range []struct{ name, enc, xonly string }{
		{"spec", v.Spec.Encoded, v.Spec.XOnly},
		{"sri-authority", v.SRIPair.Public.Encoded, v.SRIPair.Public.XOnly},
		{"sri-tp", v.TP.Encoded, v.TP.XOnly},
		{"key-utils", v.KeyUtils.Valid.Public, v.KeyUtils.Valid.XOnly},
	} {
		t.Run(c.name, func(t *testing.T) {
			pk, err := ParsePublicKey(c.enc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pk[:], mustHex(t, c.xonly)) {
				t.Fatalf("xonly = %x, want %s", pk[:], c.xonly)
			}
			if got := pk.String(); got != c.enc {
				t.Fatalf("String() = %s, want %s", got, c.enc)
			}
		})
	}
}

func TestSecretKeyVectors(t *testing.T) {
	v := loadVectors(t)
	for _, c := range []struct{ name, secret, secretHex, public string }{
		{"sri-authority", v.SRIPair.Secret.Encoded, v.SRIPair.Secret.Hex, v.SRIPair.Public.Encoded},
		{"key-utils", v.KeyUtils.Valid.Secret, v.KeyUtils.Valid.SecretHex, v.KeyUtils.Valid.Public},
	} {
		t.Run(c.name, func(t *testing.T) {
			sk, err := ParseSecretKey(c.secret)
			if err != nil {
				t.Fatal(err)
			}
			b := sk.PrivateKey().Key.Bytes()
			if !bytes.Equal(b[:], mustHex(t, c.secretHex)) {
				t.Fatalf("secret bytes mismatch")
			}
			if got := sk.Encode(); got != c.secret {
				t.Fatalf("Encode() = %s, want %s", got, c.secret)
			}
			if got := sk.PublicKey().String(); got != c.public {
				t.Fatalf("public = %s, want %s", got, c.public)
			}
		})
	}
}

func TestInvalidPublicKeys(t *testing.T) {
	v := loadVectors(t)
	want := map[string]error{
		"Bs58Decode (checksum)": ErrChecksum,
		"KeyVersion(12)":        ErrKeyVersion,
		"KeyLength":             ErrKeyLength,
	}
	for _, c := range v.KeyUtils.Invalid {
		_, err := ParsePublicKey(c.Encoded)
		if !errors.Is(err, want[c.Err]) {
			t.Errorf("%s: err = %v, want %v", c.Encoded, err, want[c.Err])
		}
	}
	if _, err := ParsePublicKey(v.Legacy.Encoded); !errors.Is(err, ErrKeyLength) {
		t.Errorf("legacy unversioned key: err = %v, want ErrKeyLength", err)
	}
	for _, s := range []string{"", "0OIl", "1", string(make([]byte, 500))} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", s)
		}
	}
	// Version 1 payload whose x is not on the curve (x = 5 is not: 5^3+7 = 132 is a non-residue).
	payload := append([]byte{1, 0}, make([]byte, 32)...)
	payload[33] = 5
	if _, err := ParsePublicKey(encodeCheck(payload)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("off-curve x: err = %v, want ErrInvalidKey", err)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, 32)
	a, err := GenerateSecretKey(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateSecretKey(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if a.Encode() != b.Encode() {
		t.Fatal("same randomness gave different keys")
	}
	// The zero scalar is skipped, not returned.
	c, err := GenerateSecretKey(bytes.NewReader(append(make([]byte, 32), seed...)))
	if err != nil || c.Encode() != a.Encode() {
		t.Fatalf("zero scalar not skipped: %v", err)
	}
	if _, err := GenerateSecretKey(bytes.NewReader(nil)); err == nil {
		t.Fatal("empty reader accepted")
	}
	if s := a.String(); bytes.Contains([]byte(s), []byte(a.Encode())) {
		t.Fatal("String leaks the secret")
	}
}

func TestSecretKeyFile(t *testing.T) {
	dir := t.TempDir()
	sk, err := GenerateSecretKey(bytes.NewReader(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "authority.key")
	if err := WriteSecretKeyFile(path, sk); err != nil {
		t.Fatal(err)
	}
	if err := WriteSecretKeyFile(path, sk); err == nil {
		t.Fatal("overwrote an existing key file")
	}
	got, err := LoadSecretKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Encode() != sk.Encode() {
		t.Fatal("loaded key differs")
	}
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadSecretKeyFile(path); !errors.Is(err, ErrInsecureFile) {
			t.Errorf("mode %04o: err = %v, want ErrInsecureFile", mode, err)
		}
	}
	if _, err := LoadSecretKeyFile(dir); err == nil {
		t.Error("directory accepted")
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecretKeyFile(bad); err == nil {
		t.Error("garbage accepted")
	}
}
