package config

import (
	"fmt"
	"strings"
)

// suggest returns the candidate closest to got, or "" when none is close
// enough to be a likely typo. Case, '_' and '-' are ignored first
// ("jwksUri" → "jwks_uri"); then the optimal-string-alignment distance
// (edits and adjacent swaps) must be small for the word's length.
func suggest(got string, candidates []string) string {
	norm := normalizeKey(got)
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		if normalizeKey(c) == norm {
			return c
		}
		d := editDistance(strings.ToLower(got), strings.ToLower(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 1
	switch n := len(got); {
	case n >= 9:
		limit = 3
	case n >= 5:
		limit = 2
	}
	if bestDist <= limit {
		return best
	}
	return ""
}

func normalizeKey(s string) string {
	s = strings.ToLower(s)
	return strings.NewReplacer("_", "", "-", "").Replace(s)
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent characters.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// quoteList renders ["a", "b"] as `"a", "b"`.
func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
