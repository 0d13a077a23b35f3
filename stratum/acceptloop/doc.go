// Package acceptloop is the accept loop shared by the Stratum V1 and V2
// listeners: it accepts until its context ends (closing the listener then),
// backs off on transient accept errors and hands each connection to the
// caller. It imports nothing of the pool.
package acceptloop
