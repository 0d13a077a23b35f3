package share

import "testing"

// forEachImpl runs fn once per SHA-256 implementation available on this CPU.
func forEachImpl(t *testing.T, fn func(t *testing.T)) {
	t.Run("default", fn)
}
