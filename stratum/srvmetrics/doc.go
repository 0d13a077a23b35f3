// Package srvmetrics is the Prometheus plumbing shared by the Stratum V1 and
// V2 servers: vectors created with their bounded label values already
// present, the adit_shares_total counters resolved once per reject reason,
// unregistered fallbacks for optional collectors, and registration. It
// imports share (for the reasons) and nothing else of the pool.
package srvmetrics
