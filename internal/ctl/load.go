package ctl

import (
	"context"
	"math"
	"sort"
	"sync"
	"time"
)

// Latencies collects the outcome of the requests of a load run (check perf,
// check datascale). Safe for concurrent use.
type Latencies struct {
	mu    sync.Mutex
	lats  []time.Duration
	errs  map[string]int
	first time.Time // start of the first successful request
	last  time.Time // end of the last one
}

// Add records one request.
func (l *Latencies) Add(start, end time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		if l.errs == nil {
			l.errs = make(map[string]int)
		}
		l.errs[err.Error()]++
		return
	}
	if l.first.IsZero() || start.Before(l.first) {
		l.first = start
	}
	if end.After(l.last) {
		l.last = end
	}
	l.lats = append(l.lats, end.Sub(start))
}

// ErrorCount is how many requests failed with one error.
type ErrorCount struct {
	Err   string
	Count int
}

// Errors returns the failures, sorted by message.
func (l *Latencies) Errors() []ErrorCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ErrorCount, 0, len(l.errs))
	for e, n := range l.errs {
		out = append(out, ErrorCount{e, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Err < out[j].Err })
	return out
}

// Stats returns the successful requests per second over the run, the
// slowest request and the standard deviation of the latencies, in seconds.
func (l *Latencies) Stats() (rps, slowest, stddev float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lats) == 0 {
		return 0, 0, 0
	}
	var sum float64
	for _, d := range l.lats {
		sum += d.Seconds()
		slowest = max(slowest, d.Seconds())
	}
	mean := sum / float64(len(l.lats))
	var v float64
	for _, d := range l.lats {
		v += (d.Seconds() - mean) * (d.Seconds() - mean)
	}
	stddev = math.Sqrt(v / float64(len(l.lats)))
	if total := l.last.Sub(l.first).Seconds(); total > 0 {
		rps = float64(len(l.lats)) / total
	}
	return rps, slowest, stddev
}

// Pacer hands out request slots at a fixed rate to any number of workers,
// so that together they send perSecond requests a second.
type Pacer struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

// NewPacer returns a pacer for perSecond requests a second (at least 1).
func NewPacer(perSecond int) *Pacer {
	return &Pacer{next: time.Now(), interval: time.Second / time.Duration(max(perSecond, 1))}
}

// Wait blocks until the caller's slot and reports whether it may go on:
// false once ctx has ended. Slots missed while nobody waited are not made
// up for.
func (p *Pacer) Wait(ctx context.Context) bool {
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	slot := p.next
	p.next = p.next.Add(p.interval)
	p.mu.Unlock()
	t := time.NewTimer(time.Until(slot))
	defer t.Stop()
	select {
	case <-t.C:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}
