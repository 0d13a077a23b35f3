//go:build !amd64 || purego

package share

const haveSHANI = false

func blockSHANI(state *[8]uint32, p []byte) { blockGeneric(state, p) }
