// Package keys holds the Stratum V2 pool authority key: generation, the
// base58check string encodings the reference implementation (SRI) uses, and
// loading the secret from a file. A public key string is base58check of
// [0x01,0x00] ‖ xonly32 (version 1, little-endian); a secret key string is
// base58check of the raw 32-byte scalar. The package does no network I/O and
// keeps no global state; randomness is injected.
package keys
