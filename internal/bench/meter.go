package bench

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Meter hands out request numbers and collects what the clients measured.
// Take, Recorder, Done, Fail and Counter are safe for concurrent use.
type Meter struct {
	total int64         // 0 = unlimited
	rate  float64       // requests per second, 0 = unlimited
	start time.Time     // set by begin
	stop  chan struct{} // closed when the duration has passed
	now   func() time.Time

	next   atomic.Int64 // next request number to hand out
	done   atomic.Int64 // successful requests
	errs   atomic.Int64 // failed requests
	budget atomic.Int64 // exact latency samples left

	mu struct {
		sync.Mutex
		end      time.Time // set by End; zero until then
		recs     []*Recorder
		errors   map[string]int64 // error message -> count
		counters map[string]*atomic.Int64
	}
}

// maxErrorKinds bounds the distinct error messages a run remembers.
const maxErrorKinds = 8

func newMeter(c *Config) *Meter {
	m := &Meter{total: c.Total, rate: c.Rate, stop: make(chan struct{}), now: time.Now}
	m.budget.Store(c.MaxExactSamples)
	m.mu.errors = make(map[string]int64)
	m.mu.counters = make(map[string]*atomic.Int64)
	return m
}

// begin starts the clock and, when d > 0, schedules the stop. The returned
// function releases the timer.
func (m *Meter) begin(d time.Duration) (release func()) {
	m.start = m.now()
	if d <= 0 {
		return func() {}
	}
	t := time.AfterFunc(d, func() { close(m.stop) })
	return func() { t.Stop() }
}

// Take returns the number of the next request to issue, waiting for its
// slot when a rate is set. It returns false when the run is over: the total
// is reached, the duration has passed or ctx is done.
func (m *Meter) Take(ctx context.Context) (seq int64, ok bool) {
	select {
	case <-m.stop:
		return 0, false
	case <-ctx.Done():
		return 0, false
	default:
	}
	seq = m.next.Add(1) - 1
	if m.total > 0 && seq >= m.total {
		return 0, false
	}
	if m.rate > 0 {
		at := m.start.Add(time.Duration(float64(seq) / m.rate * float64(time.Second)))
		if wait := at.Sub(m.now()); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-m.stop:
				return 0, false
			case <-ctx.Done():
				return 0, false
			}
		}
	}
	return seq, true
}

// End marks the end of the timed run. A Driver calls it once the work it
// measures is over and before it tears down (cancelling watches, say), so
// the teardown is not timed; without a call the run ends when Drive returns.
// Only the first call counts.
func (m *Meter) End() {
	now := m.now()
	m.mu.Lock()
	if m.mu.end.IsZero() {
		m.mu.end = now
	}
	m.mu.Unlock()
}

// elapsed is the time from begin to End, or to now if End was not called.
func (m *Meter) elapsed() time.Duration {
	m.mu.Lock()
	end := m.mu.end
	m.mu.Unlock()
	if end.IsZero() {
		end = m.now()
	}
	return end.Sub(m.start)
}

// Stopped is closed when the run's duration has passed.
func (m *Meter) Stopped() <-chan struct{} { return m.stop }

// Recorder returns a new latency recorder for one goroutine.
func (m *Meter) Recorder() *Recorder {
	r := newRecorder(&m.budget)
	m.mu.Lock()
	m.mu.recs = append(m.mu.recs, r)
	m.mu.Unlock()
	return r
}

// Done records a successful request that took d.
func (m *Meter) Done(r *Recorder, d time.Duration) {
	r.Add(d)
	m.done.Add(1)
}

// Fail records a failed request.
func (m *Meter) Fail(err error) { m.FailN(err, 1) }

// FailN records n failed requests (or undelivered events) with the same
// error.
func (m *Meter) FailN(err error, n int64) {
	if n <= 0 {
		return
	}
	m.errs.Add(n)
	msg := err.Error()
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.errors[msg]; ok || len(m.mu.errors) < maxErrorKinds {
		m.mu.errors[msg] += n
	}
}

// Counter returns the named workload counter (for example "cas_failed"),
// reported with the result. Fetch it once per goroutine, not per request.
func (m *Meter) Counter(name string) *atomic.Int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.mu.counters[name]
	if !ok {
		c = new(atomic.Int64)
		m.mu.counters[name] = c
	}
	return c
}

// ErrorCount is one distinct error message and how often it occurred.
type ErrorCount struct {
	Message string `json:"message"`
	Count   int64  `json:"count"`
}

// finish summarizes the run; no goroutine may use the meter any more.
func (m *Meter) finish(workload string, elapsed time.Duration) Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := Result{
		Workload: workload,
		Requests: m.done.Load(),
		Errors:   m.errs.Load(),
		Elapsed:  elapsed,
		Latency:  Summarize(m.mu.recs),
	}
	for msg, n := range m.mu.errors {
		res.ErrorKinds = append(res.ErrorKinds, ErrorCount{msg, n})
	}
	sort.Slice(res.ErrorKinds, func(i, j int) bool {
		a, b := res.ErrorKinds[i], res.ErrorKinds[j]
		return a.Count > b.Count || a.Count == b.Count && a.Message < b.Message
	})
	if len(m.mu.counters) > 0 {
		res.Counters = make(map[string]int64, len(m.mu.counters))
		for k, c := range m.mu.counters {
			res.Counters[k] = c.Load()
		}
	}
	return res
}
