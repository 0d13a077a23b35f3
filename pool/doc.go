// Package pool orchestrates the daemon: configuration, node clients, the
// template source and job broadcast, vardiff, extranonce allocation, block
// submission, the share log, the HTTP endpoints (metrics, JSON API,
// dashboard) and the protocol servers. It implements share.Backend for the
// protocol packages, which never see anything else of it.
package pool
