package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestStamp(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 1500 * time.Microsecond, 90 * time.Minute, 1 << 62} {
		b := []byte(Value(256))
		stamp(b, d)
		if !strings.HasSuffix(string(b), Value(256)[stampLen:]) {
			t.Fatalf("stamp(%v) changed the value past the stamp: %q", d, b)
		}
		got, ok := parseStamp(b)
		if !ok || got != d {
			t.Fatalf("parseStamp(stamp(%v)) = %v, %v", d, got, ok)
		}
	}
	b := make([]byte, stampLen)
	stamp(b, -time.Second) // a clock that never runs backwards, but still
	if got, ok := parseStamp(b); !ok || got != 0 {
		t.Fatalf("negative stamp reads back as %v, %v; want 0", got, ok)
	}
	for _, v := range []string{"", "0123", "0000000000000000"[:stampLen-1], "000000000000000g", "ffffffffffffffff", "ABCDEF0000000000"} {
		if d, ok := parseStamp([]byte(v)); ok {
			t.Errorf("parseStamp(%q) = %v, accepted a value the workload does not write", v, d)
		}
	}
}

func TestCaughtUp(t *testing.T) {
	seen := make([]atomic.Int64, 3)
	if !caughtUp(seen, 0) {
		t.Fatal("not caught up with revision 0")
	}
	seen[0].Store(5)
	seen[1].Store(7)
	seen[2].Store(4)
	if caughtUp(seen, 5) {
		t.Fatal("caught up with 5 while one watcher is at 4")
	}
	seen[2].Store(5)
	if !caughtUp(seen, 5) {
		t.Fatal("not caught up with 5")
	}
}

func TestMeterEndAndFailN(t *testing.T) {
	c := Default()
	m := newMeter(&c)
	clock := time.Unix(100, 0)
	m.now = func() time.Time { return clock }
	m.begin(0)
	clock = clock.Add(2 * time.Second)
	if got := m.elapsed(); got != 2*time.Second {
		t.Fatalf("elapsed before End = %v, want 2s", got)
	}
	m.End()
	clock = clock.Add(5 * time.Second)
	m.End() // later calls do not move the end
	if got := m.elapsed(); got != 2*time.Second {
		t.Fatalf("elapsed after End = %v, want 2s", got)
	}
	boom := errors.New("boom")
	m.FailN(boom, 3)
	m.FailN(boom, 0)
	m.Fail(boom)
	res := m.finish("x", m.elapsed())
	if res.Errors != 4 || len(res.ErrorKinds) != 1 || res.ErrorKinds[0].Count != 4 {
		t.Fatalf("errors %d %v, want 4 boom", res.Errors, res.ErrorKinds)
	}
}

// endDriver stands for a Driver with a slow teardown after End.
type endDriver struct{ fakeWorkload }

func (*endDriver) Drive(ctx context.Context, env *Env, m *Meter) error {
	rec := m.Recorder()
	for {
		if _, ok := m.Take(ctx); !ok {
			break
		}
		m.Done(rec, time.Millisecond)
	}
	m.End()
	time.Sleep(200 * time.Millisecond) // teardown, not timed
	return nil
}

func TestRunDriverEnd(t *testing.T) {
	env := testEnv(func(c *Config) { c.Total = 10 })
	res, err := run(context.Background(), env, &endDriver{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 10 || res.Elapsed >= 200*time.Millisecond {
		t.Fatalf("requests %d in %v; want 10, and the teardown after End not timed", res.Requests, res.Elapsed)
	}
}

func TestWatchResultOutput(t *testing.T) {
	c := Default()
	c.Watchers, c.Conns, c.WatchPrefix = 1000, 8, true
	res := Result{
		Workload: "watch", Config: c, Requests: 50000, Elapsed: 2 * time.Second,
		Latency:  Summary{Count: 50000, Exact: true, P50: 3 * time.Millisecond, P99: 9 * time.Millisecond},
		Counters: map[string]int64{"puts": 50, "events_foreign": 0},
	}
	var b bytes.Buffer
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal(b.Bytes(), &j); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"workload": "watch", "watchers": 1000.0, "watch_prefix": true, "events": 50000.0,
		"events_per_s": 25000.0, "throughput": 25000.0, "p50_ms": 3.0, "p99_ms": 9.0,
	} {
		if j[k] != want {
			t.Errorf("JSON %s = %v, want %v", k, j[k], want)
		}
	}
	if _, ok := j["consistency"]; ok {
		t.Errorf("watch JSON has a consistency: %s", b.String())
	}
	b.Reset()
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"watch (1000 watchers on one prefix)", "1000 watchers over 8 conns", "events      50000 (0 errors)",
		"throughput  25000 events/s", "(put sent to event received)", "puts 50"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, b.String())
		}
	}

	// Other workloads have no watch fields.
	res.Workload = "put"
	b.Reset()
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"watchers", "events", "events_per_s", "watch_prefix"} {
		if strings.Contains(b.String(), `"`+k+`"`) {
			t.Errorf("put JSON has %s: %s", k, b.String())
		}
	}
}

func TestWorkloadsRegistered(t *testing.T) {
	for _, name := range []string{"put", "range", "delete", "txn-cas", "watch", "lease-keepalive"} {
		f, ok := Workloads[name]
		if !ok {
			t.Fatalf("workload %s not registered", name)
		}
		if got := f().Name(); got != name {
			t.Errorf("Workloads[%q]().Name() = %q", name, got)
		}
	}
	if _, ok := Workloads["watch"]().(Driver); !ok {
		t.Error("watch is not a Driver")
	}
	if _, ok := Workloads["lease-keepalive"]().(Driver); ok {
		t.Error("lease-keepalive is a Driver; it is one request per client turn")
	}
}

func TestFirstReadNoServer(t *testing.T) {
	// A port nothing listens on: no read succeeds before the deadline.
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := FirstRead(ctx, []string{"127.0.0.1:" + strconv.Itoa(port)}, "k", 10*time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || res.Attempts < 1 {
		t.Fatalf("FirstRead without a server: %+v, %v", res, err)
	}
	if _, err := FirstRead(context.Background(), []string{"127.0.0.1:1"}, "k", 0); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("zero interval: %v", err)
	}
}

// fakeKV answers Range with one key once ready is closed, and "not ready"
// before.
type fakeKV struct {
	pb.UnimplementedKVServer
	ready chan struct{}
}

func (f *fakeKV) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	select {
	case <-f.ready:
		return &pb.RangeResponse{Header: &pb.ResponseHeader{}, Count: 1, Kvs: []*mvccpb.KeyValue{{Key: r.Key}}}, nil
	default:
		return nil, status.Error(codes.Unavailable, "not ready")
	}
}

func TestFirstReadServerStartsLate(t *testing.T) {
	// The port refuses connections for a while, then a server listens but
	// is not ready, then it answers: FirstRead waits through both.
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	kv := &fakeKV{ready: make(chan struct{})}
	srv := grpc.NewServer()
	pb.RegisterKVServer(srv, kv)
	defer srv.Stop()
	var listening, ready atomic.Int64 // unix nanoseconds
	go func() {
		time.Sleep(100 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			close(kv.ready)
			return
		}
		listening.Store(time.Now().UnixNano())
		go srv.Serve(l)
		time.Sleep(100 * time.Millisecond)
		ready.Store(time.Now().UnixNano())
		close(kv.ready)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := FirstRead(ctx, []string{addr}, "k", 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || listening.Load() == 0 || res.At.UnixNano() < ready.Load() || res.Attempts < 2 {
		t.Fatalf("FirstRead = %+v; server listening at %v, ready at %v", res, listening.Load(), ready.Load())
	}
}
