package main

import (
	"math"
	"slices"
	"time"
)

// latency summarizes a set of durations.
type latency struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

// summarize returns nearest-rank percentiles of ds.
func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return latency{N: len(s), P50: rank(s, 0.50), P95: rank(s, 0.95), P99: rank(s, 0.99), Max: s[len(s)-1]}
}

func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// median is the middle of xs (the mean of the middle two for an even
// count, rounded down for integers and durations); 0 for none.
func median[T ~int64 | ~float64](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
