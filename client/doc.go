// Package client is a Go client SDK for PowerSync-compatible sync services:
// it keeps a local SQLite database (modernc.org/sqlite, pure Go) in sync
// with the rows a service's sync rules or Sync Streams give one user, and
// queues the application's local writes for upload to its own backend.
//
// It plays the role of the official SDKs and their shared sync core, with
// tables of its own design:
//
//   - Open installs a Schema: each Table is a view over a ps_data__<table>
//     table of (id, JSON data); INSTEAD OF triggers on the view record every
//     insert, update and delete in the upload queue (ps_crud).
//   - Connect starts two loops. The sync loop posts /sync/stream with the
//     buckets it holds and the op id it holds each up to ("after"), stores
//     every data line in an op log (ps_oplog) while adding up each bucket's
//     checksum, validates all checksums when a checkpoint completes, and then
//     publishes the rows in one transaction. A bucket that fails validation is
//     deleted and downloaded again from the start on the next connection.
//     Partial checkpoints publish higher-priority buckets first.
//   - The upload loop calls Connector.UploadData whenever writes are queued,
//     then asks the service for a write checkpoint; downloaded data is
//     published only once a checkpoint includes it, so the application never
//     sees its own write disappear and come back.
//   - Credentials come from Connector.FetchCredentials: before the first
//     connection, after any 401, and ahead of expiry when the stream says
//     token_expires_in ≤ 30 s. Failed connections are retried with
//     exponential backoff and jitter.
//
// Status, StatusChanged and WaitFor expose connection state, last sync time
// and per-bucket download progress. Subscribe adds explicit Sync Streams
// subscriptions. OpenStream and WriteCheckpoint are the transport on their
// own, for tools that only read a stream (powersync test-client).
package client
