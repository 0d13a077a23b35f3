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

// FuzzLineReader checks the bounded line codec against a direct reading of
// the input: data arrives in the chunk sizes the fuzzer picks (splits fall
// at any byte), lines longer than max (a '\r' before the '\n' counting) end
// the stream with a sticky ErrLineTooLong, a trailing '\r' is stripped,
// empty lines are skipped, a pending partial line at the end is
// io.ErrUnexpectedEOF, and the buffer never grows past max+2 bytes.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\r\n\n{\"id\":2}\n"), []byte{3, 1, 7}, uint16(64))
	f.Add([]byte("abc\n"+strings.Repeat("b", 300)+"\n"), []byte{255}, uint16(100))
	f.Add([]byte("a\nbc"), []byte{}, uint16(0))
	f.Add([]byte("\r\r\n\r\n"), []byte{1}, uint16(1))
	f.Fuzz(func(t *testing.T, data, chunks []byte, max16 uint16) {
		maxLen := int(max16 % 5000)
		sizes := make([]int, len(chunks))
		for i, c := range chunks {
			sizes[i] = int(c) + 1
		}
		lr := NewLineReader(&chunkReader{data: data, chunks: sizes}, maxLen)
		limit := max(maxLen, 1)

		var want []string
		wantErr := io.EOF
		rest := data
		for len(rest) > 0 {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				wantErr = io.ErrUnexpectedEOF
				if len(rest) > limit {
					wantErr = ErrLineTooLong
				}
				break
			}
			raw := rest[:i]
			rest = rest[i+1:]
			if len(raw) > limit {
				wantErr = ErrLineTooLong
				break
			}
			if line := bytes.TrimSuffix(raw, []byte("\r")); len(line) > 0 {
				want = append(want, string(line))
			}
		}

		var got []string
		var err error
		for {
			var line []byte
			if line, err = lr.ReadLine(); err != nil {
				break
			}
			got = append(got, string(line))
			if len(got) > len(want) {
				t.Fatalf("extra line %q", line)
			}
		}
		if err != wantErr {
			t.Fatalf("error %v, want %v (lines %q)", err, wantErr, got)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("line %d: %q, want %q", i, got[i], want[i])
			}
		}
		if _, err2 := lr.ReadLine(); err2 != err {
			t.Fatalf("error not sticky: %v then %v", err, err2)
		}
		if len(lr.buf) > limit+2 {
			t.Fatalf("buffer grew to %d for max %d", len(lr.buf), limit)
		}
	})
}
