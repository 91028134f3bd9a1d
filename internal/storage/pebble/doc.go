// Package pebble is the embedded bucket storage: storage.Storage on one
// Pebble database in a directory. It is the default backend of a single
// service process (replication and the sync API in one process).
//
// # Layout
//
// Keys are described in keys.go. The op log of a bucket is the key range
// (version, bucket, op id), so "ops of B after X up to checkpoint C" is one
// iterator over contiguous keys. Each op value is a small header (kind,
// checksum, compaction target, row identity hash) followed by the op's wire
// JSON, the exact object of a data line's "data" array, built once when the
// op is written; reads append stored bytes and never decode or re-encode.
//
// Bucket checksums never need a scan of ops. Every commit writes, for each
// bucket it touched, a cumulative record (checksum, count) keyed (version,
// bucket, last op id of the bucket in that commit). A commit's ops of a
// version are all above the previous checkpoint and at or below the next
// one, so the checksum as of checkpoint C is the last cumulative record at
// or before C: one seek.
//
// Parameter lookup entries are keyed (version, lookup key, source row, op
// id) with op ids from the same sequence as ops; Lookup as of C takes per
// source row the newest entry at or before C and drops empty results
// (tombstones). Current data (the memberships, lookup keys and optional row
// of each source row) is keyed (version, table, key) and read only by the
// writer.
//
// # Visibility and atomicity
//
// Readers only ever see data up to a checkpoint: ops, totals and lookup
// entries above a version's checkpoint op id are ignored by every read.
// Op ids come from one in-memory sequence (persisted with every write
// batch, so it never rewinds after a restart) shared by all versions.
//
// A Batch collects writes in a Pebble batch and the current data it
// changed in memory. Commit writes, in ONE synced Pebble batch: the rest of
// the ops and lookup entries, the current data, the cumulative totals, the
// snapshot progress, the version record (committed op id, checkpoint op id
// and source position, state and activation of the version), the op
// sequence, and the deletion of the batch's undo entries. Only after that
// write returns does the checkpoint become visible in memory and Watch
// fire.
//
// # Large batches and kill -9
//
// A batch larger than Options.SpillBytes (a 200,000-row transaction) is
// spilled: its Pebble batch so far is written to the database (unsynced)
// together with undo entries in the same atomic write. The undo entries
// restore the previous value (or absence) of every current-data key the
// spill overwrote, delete every lookup entry it added, and delete the op
// range (bucket, ops above the version's committed op id) of every bucket it
// wrote to. Spilled ops and lookup entries are invisible (their op ids are
// above the checkpoint) and current data is read only by the writer, so a
// spill changes nothing a reader can see. The previous value of a
// current-data key is the one the batch read when it first touched the key
// (so a spill does not read it again); for a row saved with RowUpdate.New
// it is "absent", which is what New promises.
//
// The argument that a crash at any point loses or duplicates nothing:
//
//   - Every Pebble write batch is atomic, and the WAL is replayed in order:
//     after a crash the database holds a prefix of the write batches, each
//     entirely or not at all.
//   - If the crash comes before the Commit write is durable, the database
//     holds the last committed state plus zero or more complete spills,
//     each with its undo entries. Open applies the undo entries of every
//     version newest first (so each key gets back the value it had before
//     the first spill that touched it) and deletes them, in one synced
//     write, before anything else can read or write. The result is exactly
//     the last committed state; the op ids the lost batch used are skipped,
//     never reused for visible ops (the sequence is persisted with every
//     spill and commit).
//   - If the Commit write is durable, its own deletion of the undo entries
//     is part of it, so nothing is rolled back, and the version record
//     written with it names the source position the batch reached.
//     Replication resumes from that position, so the committed source
//     transactions are not replayed and no op is written twice.
//   - A crash during the rollback itself leaves the undo entries in place
//     (the rollback is one write), and the next Open rolls back again;
//     applying the same undo entries twice gives the same result.
//
// Closing a batch without Commit runs the same rollback in-process.
//
// # Compaction
//
// Compact rewrites, up to the version's checkpoint, each PUT or REMOVE that
// a newer op of the same row supersedes into a MOVE (same op id and
// checksum, no row, target = the newest op of the row) and folds the
// bucket's leading run of MOVE/REMOVE/CLEAR ops into one CLEAR carrying
// their summed checksum. Each rewrite is one atomic write, and bucket
// checksums as of every checkpoint stay what they were. Each CLEAR also
// records how many ops CLEARs of the bucket have removed so far, keyed by
// its op id, and Checksums subtracts it (a second seek), so counts as of
// the compacted checkpoint or later are the number of ops a client
// downloads. Compacting the active version also drops
// write checkpoint entries that no position at or after its checkpoint can
// return. The parameter lookup index is not pruned (reads stay two seeks
// per source row however many old entries there are).
//
// A reader of a checkpoint older than the one compaction ran at sees MOVEs
// whose target is above its checkpoint (Chunk.TargetOp), and the sync API
// must not complete that checkpoint. As in the reference, a CLEAR takes the
// id of the newest op it replaces, so a reader still at an older
// checkpoint may miss it and fail its checksum once; the client then
// downloads that bucket again.
package pebble
