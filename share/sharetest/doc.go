// Package sharetest provides test doubles for the protocol servers: an
// in-memory share.Backend (records kept in memory, jobs published by the
// test, extranonces counted) and a simple Vardiff. The share validator is
// always the real share.Validator; nothing here judges shares.
package sharetest
