package storage

import (
	"bytes"
	"slices"
)

// SortedChanges returns the Changes naming a set of buckets and a set of
// lookup keys, each sorted, as backends collect them while walking the
// changes between two checkpoints.
func SortedChanges(buckets, lookups map[string]struct{}) Changes {
	out := Changes{}
	for b := range buckets {
		out.Buckets = append(out.Buckets, b)
	}
	for l := range lookups {
		out.Lookups = append(out.Lookups, []byte(l))
	}
	slices.Sort(out.Buckets)
	slices.SortFunc(out.Lookups, bytes.Compare)
	return out
}
