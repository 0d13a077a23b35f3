//go:build !amd64 || purego

package share

const haveSHANI = false

func blockSHANI(state *[8]uint32, p []byte) { blockGeneric(state, p) }

func hashHeaderSHANI(out *[32]byte, mid *[8]uint32, tail *[64]byte, iv *[8]uint32) {
	s := *mid
	blockGeneric(&s, tail[:])
	var buf [64]byte
	for i := 0; i < 8; i++ {
		buf[4*i], buf[4*i+1], buf[4*i+2], buf[4*i+3] = byte(s[i]>>24), byte(s[i]>>16), byte(s[i]>>8), byte(s[i])
	}
	buf[32], buf[62] = 0x80, 0x01
	s = *iv
	blockGeneric(&s, buf[:])
	for i := 0; i < 8; i++ {
		out[4*i], out[4*i+1], out[4*i+2], out[4*i+3] = byte(s[i]>>24), byte(s[i]>>16), byte(s[i]>>8), byte(s[i])
	}
}
