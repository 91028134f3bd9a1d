// Package syncrules parses, compiles and evaluates PowerSync Sync Rules
// (bucket_definitions) and Sync Streams.
//
// A sync config is compiled once into plans of closures and then answers the
// three questions of the data flow:
//
//   - replication asks, for every source row, which buckets the row belongs to
//     and with what output data (EvaluateRow);
//   - replication asks, for every row of a parameter table, which lookup index
//     entries it produces (EvaluateParameterRow);
//   - the sync API asks, for every connection, which buckets a user gets,
//     resolving parameter lookups against storage at each checkpoint
//     (NewQuerier).
//
// The SQLite value model (Value, Row, TableRef) is package sqlvalue, which
// the source adapters share. The package imports nothing of this module but
// protocol and sqlvalue.
package syncrules
