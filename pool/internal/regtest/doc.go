// Package regtest starts a throwaway btcd regtest node for integration
// tests: its own data directory, random loopback ports, a mining address
// from a fixed test key, and cleanup that kills the process when the test
// ends (and, on Linux, when the test binary dies). Nothing here is for
// production use.
package regtest
