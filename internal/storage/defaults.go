package storage

// Defaults every backend applies to a zero or negative limit.
const (
	// DefaultChunkOps and DefaultChunkBytes bound a data chunk (reference:
	// 1,000 ops and 1 MB per data line).
	DefaultChunkOps   = 1000
	DefaultChunkBytes = 1 << 20
	// DefaultMoveBatch bounds the ops one compaction write rewrites.
	DefaultMoveBatch = 2000
)

// WithDefaults returns l with each zero or negative field set to its
// default (DefaultChunkOps, DefaultChunkBytes).
func (l Limits) WithDefaults() Limits {
	if l.Ops <= 0 {
		l.Ops = DefaultChunkOps
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultChunkBytes
	}
	return l
}

// WithDefaults returns o with a zero or negative MoveBatch set to
// DefaultMoveBatch.
func (o CompactOptions) WithDefaults() CompactOptions {
	if o.MoveBatch <= 0 {
		o.MoveBatch = DefaultMoveBatch
	}
	return o
}
