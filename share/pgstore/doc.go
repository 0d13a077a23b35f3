// Package pgstore ships the local share log (share/sharelog) into Postgres
// and maintains the share partitions. The Shipper copies records in batches
// with COPY and moves the instance's row in sharelog_positions in the same
// transaction, so every durable share lands in Postgres exactly once across
// crashes, kill -9 and Postgres outages; it reports the shipped position back
// to the log for lag reporting and segment deletion. Schema: migrations.
package pgstore
