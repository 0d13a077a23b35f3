// Package sharetest provides test doubles for the protocol servers: an
// in-memory share.Backend (records kept in memory, jobs published by the
// test, extranonces counted) and a simple Vardiff. The share validator is
// always the real share.Validator; nothing here judges shares. It also
// locates the golden vectors in ../shared/vectors (ReadVector), which are
// not part of this repository: a missing one fails the test when CI is set
// and skips it, naming the file, anywhere else.
package sharetest
