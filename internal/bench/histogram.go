package bench

import (
	"math"
	"math/bits"
	"slices"
	"sync/atomic"
	"time"
)

// Recorder collects the latency samples of one goroutine. It is not safe for
// concurrent use: give each goroutine its own (Meter.Recorder) and merge them
// with Summarize when the run is over.
//
// Samples are kept exactly (8 bytes each) while the shared budget lasts, so
// percentiles are exact for up to Config.MaxExactSamples samples in total.
// Past the budget, samples go to a log-linear histogram (HDR-like, under
// 0.4 % relative error) and the summary is marked inexact.
type Recorder struct {
	budget  *atomic.Int64 // shared remaining exact samples
	samples []int64       // nanoseconds
	hist    *logHist      // allocated when the budget runs out
}

func newRecorder(budget *atomic.Int64) *Recorder {
	return &Recorder{budget: budget}
}

// Add records one latency sample.
func (r *Recorder) Add(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if r.hist == nil && r.budget.Add(-1) >= 0 {
		r.samples = append(r.samples, v)
		return
	}
	if r.hist == nil {
		r.hist = &logHist{}
	}
	r.hist.add(v)
}

// Summary holds latency statistics over all samples of a run.
type Summary struct {
	Count int64
	Exact bool // false when some samples went to the histogram
	Mean  time.Duration
	Min   time.Duration
	Max   time.Duration
	// Percentiles by nearest rank: the smallest sample such that at least p %
	// of the samples are less than or equal to it.
	P50, P90, P99, P999 time.Duration
}

// Summarize merges the recorders. It takes ownership of their samples.
func Summarize(recs []*Recorder) Summary {
	var n int
	var merged *logHist
	for _, r := range recs {
		n += len(r.samples)
		if r.hist != nil {
			if merged == nil {
				merged = &logHist{}
			}
			merged.merge(r.hist)
		}
	}
	all := make([]int64, 0, n)
	for _, r := range recs {
		all = append(all, r.samples...)
		r.samples = nil
	}
	if merged != nil {
		for _, v := range all {
			merged.add(v)
		}
		return merged.summary()
	}
	return exactSummary(all)
}

// exactSummary sorts samples in place.
func exactSummary(samples []int64) Summary {
	s := Summary{Count: int64(len(samples)), Exact: true}
	if len(samples) == 0 {
		return s
	}
	slices.Sort(samples)
	var sum float64
	for _, v := range samples {
		sum += float64(v)
	}
	at := func(p float64) time.Duration { return time.Duration(samples[rank(p, int64(len(samples)))]) }
	s.Mean = time.Duration(sum / float64(len(samples)))
	s.Min = time.Duration(samples[0])
	s.Max = time.Duration(samples[len(samples)-1])
	s.P50, s.P90, s.P99, s.P999 = at(50), at(90), at(99), at(99.9)
	return s
}

// rank is the 0-based nearest-rank index of percentile p among n samples.
// The epsilon keeps float rounding (99.9/100*1000 = 999.0000000000001) from
// moving the rank up by one.
func rank(p float64, n int64) int64 {
	r := int64(math.Ceil(p*float64(n)/100-1e-9)) - 1
	return min(max(r, 0), n-1)
}

// logHist is a log-linear histogram of non-negative int64 values: values
// below 2^histBits are counted exactly; above, each power of two is split
// into 2^(histBits-1) equal buckets, so a bucket is at most 1/128 of its
// values wide and its midpoint is within 0.4 % of any value in it.
const (
	histBits    = 8
	histHalf    = 1 << (histBits - 1)
	histBuckets = 1<<histBits + (64-histBits)*histHalf
)

type logHist struct {
	counts   [histBuckets]int64
	n        int64
	sum      float64
	min, max int64
}

func histIndex(v int64) int {
	u := uint64(v)
	if u < 1<<histBits {
		return int(u)
	}
	shift := bits.Len64(u) - histBits // >= 1
	mant := u >> shift                // in [2^(histBits-1), 2^histBits)
	return 1<<histBits + (shift-1)*histHalf + int(mant-histHalf)
}

// histValue is the midpoint of bucket i.
func histValue(i int) int64 {
	if i < 1<<histBits {
		return int64(i)
	}
	j := i - 1<<histBits
	shift := j/histHalf + 1
	mant := uint64(j%histHalf + histHalf)
	lo := mant << shift
	return int64(lo + (uint64(1)<<shift)/2)
}

func (h *logHist) add(v int64) {
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.counts[histIndex(v)]++
	h.n++
	h.sum += float64(v)
}

func (h *logHist) merge(o *logHist) {
	if o.n == 0 {
		return
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
}

func (h *logHist) summary() Summary {
	s := Summary{Count: h.n}
	if h.n == 0 {
		return s
	}
	at := func(p float64) time.Duration {
		want := rank(p, h.n) + 1 // samples at or below the answer
		var seen int64
		for i, c := range h.counts {
			seen += c
			if seen >= want {
				return time.Duration(min(max(histValue(i), h.min), h.max))
			}
		}
		return time.Duration(h.max)
	}
	s.Mean = time.Duration(h.sum / float64(h.n))
	s.Min = time.Duration(h.min)
	s.Max = time.Duration(h.max)
	s.P50, s.P90, s.P99, s.P999 = at(50), at(90), at(99), at(99.9)
	return s
}
