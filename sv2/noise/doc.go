// Package noise is the Stratum V2 secure transport:
// Noise_NX_Secp256k1+EllSwift_ChaChaPoly_SHA256 with an empty prologue, as
// the reference implementation (SRI) runs it, the pool certificate
// (SIGNATURE_NOISE_MESSAGE) signed by the authority key, and the encrypted
// framing (header sealed alone, payload in chunks of at most 65519 bytes).
//
// The handshake is a small hand-written state machine (symmetric.go,
// handshake.go) with no I/O; Initiator and Responder run it over a net.Conn
// under a deadline and return a *Conn that reads and writes whole frames.
// Randomness and the clock are injected; nothing here keeps global state.
package noise
