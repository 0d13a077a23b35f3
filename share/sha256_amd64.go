//go:build amd64 && !purego

package share

//go:noescape
func blockSHANI(state *[8]uint32, p []byte)

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// haveSHANI reports SHA extensions plus the SSSE3/SSE4.1 shuffles the
// assembly uses.
var haveSHANI = func() bool {
	maxID, _, _, _ := cpuid(0, 0)
	if maxID < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	_, ebx7, _, _ := cpuid(7, 0)
	ssse3 := ecx1&(1<<9) != 0
	sse41 := ecx1&(1<<19) != 0
	sha := ebx7&(1<<29) != 0
	return ssse3 && sse41 && sha
}()

//go:noescape
func hashHeaderSHANI(out *[32]byte, mid *[8]uint32, tail *[64]byte, iv *[8]uint32)
