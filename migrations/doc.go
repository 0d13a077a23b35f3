// Package migrations holds Adit's SQL schema as goose migrations embedded in
// the binary, and applies them. It owns the tables (shares partitioned by
// day, blocks, workers, sharelog_positions, the sharelog_skips audit trail)
// and the SQL functions that create and drop share partitions; it knows
// nothing about the code that writes them.
package migrations
