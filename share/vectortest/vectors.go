// Package vectortest locates the golden vectors (../shared/vectors, not part of
// this repository) for tests, and decides what a missing one means. It
// imports only the standard library, so package share's own tests can use it.
package vectortest

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// The golden vectors are not part of this repository: they live in
// ../shared/vectors beside the module root (the shared data of the
// project). A test that needs one reads it with ReadVector or
// ReadVectorCSV, which decide what a missing file means.
const (
	// VectorsEnv, when set, names the vector directory to use instead.
	VectorsEnv = "ADIT_VECTORS"
	// VectorSkipLogEnv, when set, names a file to which every skip for a
	// missing vector appends one line (file, tab, test name); make test
	// counts the lines for its summary.
	VectorSkipLogEnv = "ADIT_VECTOR_SKIP_LOG"
	// VectorSkipPrefix starts the message of every such skip.
	VectorSkipPrefix = "golden vector missing:"
)

// defaultVectors is the vector directory relative to the module root.
const defaultVectors = "../shared/vectors"

// VectorsDir returns the directory the golden vectors are read from:
// $ADIT_VECTORS, or ../shared/vectors relative to the module root (the
// nearest directory above the working directory holding go.mod).
func VectorsDir() (string, error) {
	if d := os.Getenv(VectorsEnv); d != "" {
		return d, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(defaultVectors)), nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sharetest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ReadVector returns the golden-vector file rel (slash-separated, relative
// to the vector directory, e.g. "bip324/ellswift_decode_test_vectors.csv").
// A missing file fails tb when the CI environment variable is set; anywhere
// else it skips tb with a message naming the file (and logs the skip to
// $ADIT_VECTOR_SKIP_LOG when set). Any other read error fails tb.
func ReadVector(tb testing.TB, rel string) []byte {
	tb.Helper()
	dir, err := VectorsDir()
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	switch {
	case err == nil:
		return b
	case !errors.Is(err, fs.ErrNotExist):
		tb.Fatal(err)
	case inCI():
		tb.Fatalf("%s %s (not found; CI is set, so a missing vector is a failure)", VectorSkipPrefix, shown(rel))
	}
	logSkip(tb, rel)
	tb.Skipf("%s %s (not found; CI=1 makes this a failure)", VectorSkipPrefix, shown(rel))
	return nil
}

// ReadVectorCSV reads the CSV vector file rel (see ReadVector), whose first
// row names the columns, into one map per remaining row.
func ReadVectorCSV(tb testing.TB, rel string) []map[string]string {
	tb.Helper()
	rows, err := csv.NewReader(bytes.NewReader(ReadVector(tb, rel))).ReadAll()
	if err != nil {
		tb.Fatalf("%s: %v", rel, err)
	}
	if len(rows) == 0 {
		tb.Fatalf("%s: no header row", rel)
	}
	out := make([]map[string]string, 0, len(rows)-1)
	for _, r := range rows[1:] {
		m := make(map[string]string, len(r))
		for i, k := range rows[0] {
			m[k] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// inCI reports whether the CI environment variable is set (to anything
// but "", "0" or "false").
func inCI() bool {
	switch os.Getenv("CI") {
	case "", "0", "false":
		return false
	}
	return true
}

// shown names rel as a reader finds it: under $ADIT_VECTORS when set, else
// relative to the module root.
func shown(rel string) string {
	if d := os.Getenv(VectorsEnv); d != "" {
		return filepath.Join(d, filepath.FromSlash(rel))
	}
	return defaultVectors + "/" + rel
}

var skipLogMu sync.Mutex

func logSkip(tb testing.TB, rel string) {
	tb.Helper()
	path := os.Getenv(VectorSkipLogEnv)
	if path == "" {
		return
	}
	skipLogMu.Lock()
	defer skipLogMu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s\t%s\n", shown(rel), tb.Name())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		tb.Errorf("%s: %v", VectorSkipLogEnv, err)
	}
}
