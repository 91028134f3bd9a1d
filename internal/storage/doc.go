// Package storage defines bucket storage: the op log per bucket, the current
// data of every source row, the parameter lookup index, checkpoints, write
// checkpoints, the replication lease and instance settings.
//
// Replication is the only writer (through Batch); the sync API reads as of a
// Checkpoint. Backends live in subpackages named after what they wrap
// (pebble, postgres) and all pass the conformance suite in storagetest.
//
// Invariants every backend keeps:
//   - op ids come from one increasing int64 sequence that never rewinds, also
//     across sync config versions and restarts;
//   - a batch's ops, current data, lookups and the new checkpoint with its
//     source position become visible atomically, or not at all;
//   - a bucket's checksum as of a checkpoint is the wrapping sum of the
//     checksums of its ops up to that checkpoint, and compaction keeps it.
package storage
