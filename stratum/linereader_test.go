package stratum

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its input in the given chunk sizes, then EOF.
type chunkReader struct {
	data   []byte
	chunks []int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.chunks) > 0 {
		n = min(n, c.chunks[0])
		c.chunks = c.chunks[1:]
	}
	n = copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func readAll(t *testing.T, lr *LineReader) ([]string, error) {
	t.Helper()
	var out []string
	for {
		line, err := lr.ReadLine()
		if err != nil {
			return out, err
		}
		out = append(out, string(line))
	}
}

func TestLineReaderSplitAtEveryByte(t *testing.T) {
	input := "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\r\n\n" +
		"{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"a.b\",\"x\"]}\n" +
		"\r\n{\"id\":3}\n"
	want := []string{
		`{"id":1,"method":"mining.subscribe","params":[]}`,
		`{"id":2,"method":"mining.authorize","params":["a.b","x"]}`,
		`{"id":3}`,
	}
	for split := 1; split < len(input); split++ {
		for _, max := range []int{64, 1 << 14} {
			lr := NewLineReader(&chunkReader{data: []byte(input), chunks: []int{split, 1, split}}, max)
			got, err := readAll(t, lr)
			if err != io.EOF {
				t.Fatalf("split %d: err %v", split, err)
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("split %d max %d: got %q", split, max, got)
			}
		}
	}
	// One byte at a time, too.
	got, err := readAll(t, NewLineReader(iotest.OneByteReader(strings.NewReader(input)), 64))
	if err != io.EOF || len(got) != 3 {
		t.Fatalf("one byte reader: %q %v", got, err)
	}
}

func TestLineReaderTooLong(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		max   int
		ok    int
	}{
		{"exact fits", strings.Repeat("a", 10) + "\n", 10, 1},
		{"one over", strings.Repeat("a", 11) + "\n", 10, 0},
		{"over without newline", strings.Repeat("a", 100), 10, 0},
		{"second line over", "abc\n" + strings.Repeat("b", 5000) + "\n", 4096, 1},
		{"huge stream", "ok\n" + strings.Repeat("x", 1<<20), 16 << 10, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lr := NewLineReader(iotest.HalfReader(strings.NewReader(tc.input)), tc.max)
			got, err := readAll(t, lr)
			if tc.ok == len(got) && err == io.EOF && !strings.Contains(tc.name, "over") {
				return
			}
			if !errors.Is(err, ErrLineTooLong) || len(got) != tc.ok {
				t.Fatalf("got %d lines, err %v; want %d lines then ErrLineTooLong", len(got), err, tc.ok)
			}
			if _, err := lr.ReadLine(); !errors.Is(err, ErrLineTooLong) {
				t.Fatalf("error not sticky: %v", err)
			}
			if len(lr.buf) > tc.max+2 {
				t.Fatalf("buffer grew to %d for max %d", len(lr.buf), tc.max)
			}
		})
	}
}

func TestLineReaderPartialEOF(t *testing.T) {
	lr := NewLineReader(bytes.NewReader([]byte("a\nbc")), 100)
	if line, err := lr.ReadLine(); err != nil || string(line) != "a" {
		t.Fatalf("%q %v", line, err)
	}
	if _, err := lr.ReadLine(); err != io.ErrUnexpectedEOF {
		t.Fatalf("want ErrUnexpectedEOF, got %v", err)
	}
}
