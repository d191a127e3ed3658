package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// naivePercentile is the obviously correct nearest-rank percentile.
func naivePercentile(samples []int64, p float64) time.Duration {
	s := slices.Clone(samples)
	slices.Sort(s)
	for i := range s {
		// The smallest sample with at least p % of the samples at or below it.
		if 1000*(i+1) >= int(math.Round(p*10))*len(s) {
			return time.Duration(s[i])
		}
	}
	return time.Duration(s[len(s)-1])
}

func recordAll(budget int64, perRecorder [][]int64) Summary {
	var b atomic.Int64
	b.Store(budget)
	var recs []*Recorder
	for _, vs := range perRecorder {
		r := newRecorder(&b)
		for _, v := range vs {
			r.Add(time.Duration(v))
		}
		recs = append(recs, r)
	}
	return Summarize(recs)
}

func randomSamples(rng *rand.Rand, n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		// Log-normal-ish latencies from 10 µs to a few seconds.
		s[i] = int64(math.Exp(rng.NormFloat64()*1.5+13.5)) + 10_000
	}
	return s
}

func TestSummaryExactMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{1, 2, 3, 10, 99, 100, 101, 1000, 12345} {
		all := randomSamples(rng, n)
		// Spread the samples over several recorders, unevenly.
		var parts [][]int64
		for rest := all; len(rest) > 0; {
			k := min(len(rest), 1+rng.IntN(len(rest)))
			parts = append(parts, rest[:k])
			rest = rest[k:]
		}
		s := recordAll(int64(n), parts)
		if !s.Exact || s.Count != int64(n) {
			t.Fatalf("n=%d: Exact=%v Count=%d", n, s.Exact, s.Count)
		}
		for _, tc := range []struct {
			p   float64
			got time.Duration
		}{{50, s.P50}, {90, s.P90}, {99, s.P99}, {99.9, s.P999}, {100, s.Max}, {0, s.Min}} {
			if want := naivePercentile(all, tc.p); tc.got != want {
				t.Errorf("n=%d p%v = %v, want %v", n, tc.p, tc.got, want)
			}
		}
	}
}

func TestSummaryKnownValues(t *testing.T) {
	var vs []int64
	for i := int64(1); i <= 1000; i++ {
		vs = append(vs, i*int64(time.Millisecond))
	}
	s := recordAll(1<<20, [][]int64{vs})
	want := Summary{Count: 1000, Exact: true, Mean: 500500 * time.Microsecond,
		Min: time.Millisecond, Max: time.Second,
		P50: 500 * time.Millisecond, P90: 900 * time.Millisecond, P99: 990 * time.Millisecond, P999: 999 * time.Millisecond}
	if s != want {
		t.Fatalf("Summary = %+v\nwant      %+v", s, want)
	}
	if got := recordAll(10, nil); got != (Summary{Exact: true}) {
		t.Fatalf("empty Summary = %+v", got)
	}
}

func TestSummaryHistogramFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	all := randomSamples(rng, 50000)
	// A budget smaller than the sample count: part exact, part histogram.
	s := recordAll(20000, [][]int64{all[:10000], all[10000:30000], all[30000:]})
	if s.Exact || s.Count != 50000 {
		t.Fatalf("Exact=%v Count=%d, want inexact 50000", s.Exact, s.Count)
	}
	for _, tc := range []struct {
		p   float64
		got time.Duration
	}{{50, s.P50}, {90, s.P90}, {99, s.P99}, {99.9, s.P999}} {
		want := naivePercentile(all, tc.p)
		if rel := math.Abs(float64(tc.got-want)) / float64(want); rel > 0.004 {
			t.Errorf("p%v = %v, exact %v: relative error %.4f > 0.4 %%", tc.p, tc.got, want, rel)
		}
	}
	if want := naivePercentile(all, 100); s.Max != want {
		t.Errorf("Max = %v, want %v", s.Max, want)
	}
}

func TestHistBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(v int64) {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d out of range", v, i)
		}
		mid := histValue(i)
		if rel := math.Abs(float64(mid-v)) / math.Max(float64(v), 1); rel > 1.0/256 {
			t.Fatalf("value %d in bucket %d with midpoint %d: relative error %.5f", v, i, mid, rel)
		}
		if v > 0 && histIndex(v-1) > i {
			t.Fatalf("histIndex not monotonic at %d", v)
		}
	}
	for v := int64(0); v < 5000; v++ {
		check(v)
	}
	for range 100000 {
		check(rng.Int64N(math.MaxInt64))
		check(rng.Int64N(int64(10 * time.Second)))
	}
	check(math.MaxInt64)
}
