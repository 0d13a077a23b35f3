// Package sv2 will hold the Stratum V2 mining-protocol server (channels,
// jobs, share submission through package share). Its building blocks live
// in sub-packages: sv2/codec (binary codec and frame header), sv2/noise
// (Noise NX handshake, certificates, encrypted framing) and sv2/keys
// (authority keys). Job Declaration is to live in sv2/jd.
package sv2
