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
// The SQL text of the queries is read by package syntax; values are the
// SQLite value model of package sqlvalue, which the source adapters share.
// Parse (parse.go) reads the YAML (config_file.go) and hands every query to
// the compiler of the config's edition. The files are named after them:
//
//   - legacy*.go: legacy Sync Rules, bucket_definitions with data and
//     parameter queries (legacy.go: queries and row evaluation;
//     legacy_expr.go: the expression compiler, shared with edition 2;
//     legacy_querier.go: the request side);
//   - edition2*.go: the alpha Sync Streams of config edition 2, one query
//     per stream, built on the legacy expression compiler;
//   - edition3*.go: edition-3 Sync Streams, a separate compiler that lowers
//     queries (edition3_lower*.go), plans buckets (edition3_plan.go) and
//     evaluates rows (edition3_eval.go) and requests (edition3_querier.go).
//
// Evaluation shared by all three: operators.go, functions.go and
// datetime.go (the SQL functions and operators), json.go (the JSON
// document reader), request.go (a connection's request data) and
// querier.go (the Querier every edition adds buckets to).
//
// The package imports nothing of this module but protocol, sqlvalue and
// syntax.
package syncrules
