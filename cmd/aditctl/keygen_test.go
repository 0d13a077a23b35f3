package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/adit-pool/adit/sv2/keys"
)

func TestSV2Keygen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authority.key")
	var out bytes.Buffer
	if err := run([]string{"sv2-keygen", "-out", path}, &out, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	sk, err := keys.LoadSecretKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, printed, ok := strings.Cut(out.String(), "authority public key: ")
	if !ok {
		t.Fatalf("no public key printed:\n%s", out.String())
	}
	pk, err := keys.ParsePublicKey(strings.TrimSpace(printed))
	if err != nil {
		t.Fatalf("printed key does not parse: %v", err)
	}
	if pk != sk.PublicKey() {
		t.Fatalf("printed %s, file holds %s", pk, sk.PublicKey())
	}
	if err := run([]string{"sv2-keygen", "-out", path}, &out, nil); err == nil {
		t.Fatal("an existing key file was overwritten")
	}
}
