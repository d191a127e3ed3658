package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeWorkload answers every request without a server. Request seq fails
// when failEvery > 0 and seq % failEvery == 0.
type fakeWorkload struct {
	failEvery int64
	delay     time.Duration
	prepared  atomic.Bool
	mu        sync.Mutex
	seen      map[int64]int // request number -> times issued
	workers   int
}

func (f *fakeWorkload) Name() string { return "fake" }
func (f *fakeWorkload) Prepare(context.Context, *Env) error {
	f.prepared.Store(true)
	f.seen = map[int64]int{}
	return nil
}
func (f *fakeWorkload) NewWorker(i int, env *Env, m *Meter) Worker {
	f.workers++
	return &fakeWorker{f: f, odd: m.Counter("odd")}
}

type fakeWorker struct {
	f   *fakeWorkload
	odd *atomic.Int64
}

var errFake = errors.New("fake: injected failure")

func (w *fakeWorker) Do(ctx context.Context, seq int64) error {
	w.f.mu.Lock()
	w.f.seen[seq]++
	w.f.mu.Unlock()
	if w.f.delay > 0 {
		select {
		case <-time.After(w.f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if seq%2 == 1 {
		w.odd.Add(1)
	}
	if w.f.failEvery > 0 && seq%w.f.failEvery == 0 {
		return errFake
	}
	return nil
}

func testEnv(edit func(*Config)) *Env {
	c := Default()
	c.Clients = 8
	edit(&c)
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return &Env{Config: &c, Keys: NewKeys(&c), Value: Value(c.ValSize), Values: NewValues(c.ValSize, c.RandomValues)}
}

func TestRunTotal(t *testing.T) {
	env := testEnv(func(c *Config) { c.Total = 1000 })
	f := &fakeWorkload{failEvery: 10}
	res, err := run(context.Background(), env, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !f.prepared.Load() || f.workers != 8 {
		t.Fatalf("prepared=%v workers=%d, want true 8", f.prepared.Load(), f.workers)
	}
	if len(f.seen) != 1000 {
		t.Fatalf("issued %d distinct requests, want 1000", len(f.seen))
	}
	for seq, n := range f.seen {
		if seq < 0 || seq >= 1000 || n != 1 {
			t.Fatalf("request %d issued %d times", seq, n)
		}
	}
	if res.Requests != 900 || res.Errors != 100 || res.Latency.Count != 900 {
		t.Fatalf("requests %d errors %d samples %d, want 900 100 900", res.Requests, res.Errors, res.Latency.Count)
	}
	if len(res.ErrorKinds) != 1 || res.ErrorKinds[0] != (ErrorCount{errFake.Error(), 100}) {
		t.Fatalf("ErrorKinds = %v", res.ErrorKinds)
	}
	if res.Counters["odd"] != 500 {
		t.Fatalf("Counters = %v, want odd 500", res.Counters)
	}
	if res.Elapsed <= 0 || res.Throughput() <= 0 {
		t.Fatalf("Elapsed %v Throughput %v", res.Elapsed, res.Throughput())
	}
}

func TestRunDuration(t *testing.T) {
	env := testEnv(func(c *Config) { c.Total, c.Duration = 0, 50*time.Millisecond })
	f := &fakeWorkload{delay: time.Millisecond}
	res, err := run(context.Background(), env, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Requests in flight at the deadline complete and count.
	if res.Requests == 0 || res.Errors != 0 || int(res.Requests) != len(f.seen) {
		t.Fatalf("requests %d errors %d issued %d", res.Requests, res.Errors, len(f.seen))
	}
	if res.Elapsed < 50*time.Millisecond {
		t.Fatalf("Elapsed %v, shorter than the duration", res.Elapsed)
	}
}

func TestRunCancel(t *testing.T) {
	env := testEnv(func(c *Config) { c.Total, c.Duration = 0, time.Hour })
	f := &fakeWorkload{delay: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(30*time.Millisecond, cancel)
	res, err := run(ctx, env, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Requests cut short by the cancel are neither successes nor errors.
	if res.Errors != 0 || res.Requests == 0 {
		t.Fatalf("requests %d errors %d", res.Requests, res.Errors)
	}
}

func TestRunRate(t *testing.T) {
	// 20 requests at 1000/s: request 19 starts 19 ms after the first.
	env := testEnv(func(c *Config) { c.Total, c.Rate = 20, 1000 })
	res, err := run(context.Background(), env, &fakeWorkload{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20 || res.Elapsed < 19*time.Millisecond {
		t.Fatalf("requests %d in %v, want 20 in at least 19ms", res.Requests, res.Elapsed)
	}
}

func TestRunProgress(t *testing.T) {
	env := testEnv(func(c *Config) { c.Total, c.Duration = 0, 1100*time.Millisecond })
	var out syncBuffer
	if _, err := run(context.Background(), env, &fakeWorkload{delay: time.Millisecond}, Options{Progress: &out}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, "requests") || !strings.HasSuffix(s, "\r\033[K") {
		t.Fatalf("progress output %q", s)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fanOut is a Driver: one writer goroutine, three "watchers" that each
// record every write, as a watch fan-out workload would.
type fanOut struct{ fakeWorkload }

func (d *fanOut) Drive(ctx context.Context, env *Env, m *Meter) error {
	events := make([]chan time.Time, 3)
	var wg sync.WaitGroup
	for i := range events {
		events[i] = make(chan time.Time, 16)
		rec := m.Recorder()
		wg.Go(func() {
			for sent := range events[i] {
				m.Done(rec, time.Since(sent))
			}
		})
	}
	for {
		if _, ok := m.Take(ctx); !ok {
			break
		}
		now := time.Now()
		for _, ch := range events {
			ch <- now
		}
	}
	for _, ch := range events {
		close(ch)
	}
	wg.Wait()
	return nil
}

func TestRunDriver(t *testing.T) {
	env := testEnv(func(c *Config) { c.Total = 100 })
	d := &fanOut{}
	res, err := run(context.Background(), env, d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d.workers != 0 {
		t.Fatalf("NewWorker called %d times for a Driver", d.workers)
	}
	if res.Requests != 300 || res.Latency.Count != 300 {
		t.Fatalf("requests %d samples %d, want 300 deliveries", res.Requests, res.Latency.Count)
	}
}

func TestResultOutput(t *testing.T) {
	c := Default()
	c.Consistency = Serializable
	res := Result{
		Workload: "range", Config: c, Requests: 2000, Errors: 1, Elapsed: 2 * time.Second,
		Latency:    Summary{Count: 2000, Exact: true, P50: 1500 * time.Microsecond, P99: 4 * time.Millisecond},
		Counters:   map[string]int64{"x": 1},
		ErrorKinds: []ErrorCount{{"boom", 1}},
	}
	var b bytes.Buffer
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Fatalf("JSON output is not one line: %q", b.String())
	}
	var j map[string]any
	if err := json.Unmarshal(b.Bytes(), &j); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"workload": "range", "consistency": "s", "requests": 2000.0, "errors": 1.0,
		"throughput": 1000.0, "p50_ms": 1.5, "p99_ms": 4.0, "seconds": 2.0, "exact": true,
	} {
		if j[k] != want {
			t.Errorf("JSON %s = %v, want %v", k, j[k], want)
		}
	}
	b.Reset()
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"range (serializable)", "throughput  1000 req/s", "p50 1.500", "1× boom"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, b.String())
		}
	}
}
