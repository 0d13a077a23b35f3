package jdc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/adit-pool/adit/pool/node"
)

func TestTemplatesWait(t *testing.T) {
	ctx := context.Background()
	l := NewTemplates()
	gone := make(chan struct{})
	// Nothing yet: again does not return a nil template.
	done := make(chan error, 1)
	go func() { _, _, err := l.Wait(ctx, gone, 0, time.Millisecond); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before any template", err)
	case <-time.After(50 * time.Millisecond):
	}
	a := &node.Template{Height: 1}
	l.Set(a)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, seq, err := l.Wait(ctx, gone, 0, 0); got != a || seq != 1 || err != nil {
		t.Fatalf("Wait(seen 0) = %v, %d, %v", got, seq, err)
	}
	// Seen: again gives the same one back after the pause.
	start := time.Now()
	if got, seq, err := l.Wait(ctx, gone, 1, 30*time.Millisecond); got != a || seq != 1 || err != nil || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("Wait(seen 1, again) = %v, %d, %v after %v", got, seq, err, time.Since(start))
	}
	go func() { time.Sleep(10 * time.Millisecond); l.Set(&node.Template{Height: 2}) }()
	if got, seq, err := l.Wait(ctx, gone, 1, 0); got.Height != 2 || seq != 2 || err != nil {
		t.Fatalf("Wait(seen 1) = %v, %d, %v", got, seq, err)
	}
	close(gone)
	if _, _, err := l.Wait(ctx, gone, 2, 0); !errors.Is(err, ErrGone) {
		t.Fatalf("Wait after gone: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := l.Wait(cctx, nil, 2, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel: %v", err)
	}
}
