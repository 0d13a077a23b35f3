package farm

import (
	"crypto/rand"
	"encoding"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/adit-pool/adit/sv2/keys"
	"github.com/adit-pool/adit/sv2/noise"
)

const examplePath = "../../deploy/adit-proxy.example.toml"

// TestExampleConfig: deploy/adit-proxy.example.toml parses (unknown keys
// are an error), names only the required keys as missing, and once they are
// filled in is a valid configuration.
func TestExampleConfig(t *testing.T) {
	file, pass, err := LoadConfig(examplePath, func(k string) string {
		if k == "ADIT_PROXY_NODE_PASSWORD" {
			return "s3cret"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if pass != "s3cret" {
		t.Fatalf("node password %q, want it from ADIT_PROXY_NODE_PASSWORD", pass)
	}
	_, err = file.Farm(pass)
	if err == nil {
		t.Fatal("the example has empty required keys, Farm() = nil")
	}
	for _, want := range []string{"pool.jds and pool.mining are required", "pool.user", "pool.authority_key is required"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Farm() = %v, want a %q complaint", err, want)
		}
	}
	if n := len(strings.Split(err.Error(), "\n")); n != 3 {
		t.Errorf("Farm() complains %d times, want 3 (the required [pool] keys alone):\n%v", n, err)
	}
	authority := testAuthority(t)
	fillRequired(&file, authority)
	cfg, err := file.Farm(pass)
	if err != nil {
		t.Fatalf("the example with its required keys: %v", err)
	}
	if cfg.Stratum.Listen != "0.0.0.0:3333" || cfg.Node.URL != "http://127.0.0.1:8332" || cfg.Node.Password != "s3cret" ||
		cfg.Retry != 5*time.Second || cfg.Tag != "/adit-proxy/" || cfg.Vardiff.Start != 16384 || cfg.Upstream.Authority == nil {
		t.Fatalf("unexpected configuration from the example: %+v", cfg)
	}
}

// TestExampleShowsDefaults: every key the example sets but does not mark
// "default: ..." has its default value, so the example is what a file with
// the required keys alone runs as (with [sv2] on in both, for its keys).
func TestExampleShowsDefaults(t *testing.T) {
	authority := testAuthority(t)
	file, _, err := LoadConfig(examplePath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	fillRequired(&file, authority)
	// The required keys, and those the example marks "default: ...".
	minimal := filepath.Join(t.TempDir(), "minimal.toml")
	if err := os.WriteFile(minimal, []byte(`
[node]
url = "http://127.0.0.1:8332"
[stratum]
listen = "0.0.0.0:3333"
[vardiff]
start = 16384
`), 0o600); err != nil {
		t.Fatal(err)
	}
	short, _, err := LoadConfig(minimal, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	fillRequired(&short, authority)
	// With [sv2] on, its keys too.
	keyFile := filepath.Join(t.TempDir(), "sv2.key")
	k, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.WriteSecretKeyFile(keyFile, k); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*FileConfig{&file, &short} {
		c.SV2.Listen, c.SV2.AuthorityKeyFile = "0.0.0.0:34254", keyFile
	}
	a, err := file.Farm("")
	if err != nil {
		t.Fatal(err)
	}
	b, err := short.Farm("")
	if err != nil {
		t.Fatal(err)
	}
	a.Exclude, b.Exclude = nil, nil // funcs; the policy lists are empty in both
	if len(a.Modes) == 0 {
		a.Modes = nil // modes = [] is the default order, as no modes key is
	}
	for _, c := range []*Config{&a, &b} {
		if r, ok := c.SV2Keys.(*noise.KeyRotator); ok && r.Validity == 0 {
			r.Validity = time.Hour // noise: 0 means one hour
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the example differs from the defaults:\nexample  %+v\ndefaults %+v", a, b)
	}
}

// TestExampleDocumentsEveryKey: each key of FileConfig is set in the
// example (a key added to the code must be added there, uncommented).
func TestExampleDocumentsEveryKey(t *testing.T) {
	var file FileConfig
	md, err := toml.DecodeFile(examplePath, &file)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range tomlKeys(reflect.TypeFor[FileConfig](), nil) {
		if !md.IsDefined(key...) {
			t.Errorf("key %s of FileConfig is not set in %s", strings.Join(key, "."), examplePath)
		}
	}
}

// tomlKeys lists the TOML keys of struct type t (embedded structs without a
// tag are flattened, as the decoder does), each under prefix.
func tomlKeys(t reflect.Type, prefix []string) [][]string {
	text := reflect.TypeFor[encoding.TextUnmarshaler]()
	var out [][]string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, tomlKeys(f.Type, prefix)...)
			continue
		}
		if name == "" || name == "-" {
			name = f.Name
		}
		key := append(append([]string(nil), prefix...), name)
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(text) {
			out = append(out, tomlKeys(f.Type, key)...)
			continue
		}
		out = append(out, key)
	}
	return out
}

func testAuthority(t *testing.T) keys.PublicKey {
	t.Helper()
	k, err := keys.GenerateSecretKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

// fillRequired sets the example's required [pool] keys.
func fillRequired(c *FileConfig, authority keys.PublicKey) {
	c.Pool.JDS = "pool.example.com:34264"
	c.Pool.Mining = "pool.example.com:34254"
	c.Pool.AuthorityKey = authority.String()
	c.Pool.User = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq.farm"
}
