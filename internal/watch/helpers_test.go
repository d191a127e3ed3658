package watch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// newTestHub starts a hub over m (at m's revision) and stops it when the
// test ends.
func newTestHub(t *testing.T, m *memStore, cfg Config) *Hub {
	t.Helper()
	cfg.Store = m
	cfg.Rev = m.Read().Rev()
	cfg.Header = func(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev, RaftTerm: 1} }
	h := New(cfg)
	m.mu.Lock()
	m.hub = h
	m.mu.Unlock()
	t.Cleanup(h.Stop)
	return h
}

// client reads one stream as the gRPC send loop would, recording every
// response. Pause stops it reading.
type client struct {
	t  *testing.T
	s  *Stream
	mu struct {
		sync.Mutex
		got    []*pb.WatchResponse
		paused bool
	}
	changed chan struct{} // cap 1: got grew
	resume  chan struct{} // cap 1
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newClient(t *testing.T, h *Hub) *client {
	c := &client{t: t, s: h.NewStream(), changed: make(chan struct{}, 1), resume: make(chan struct{}, 1), stop: make(chan struct{})}
	c.wg.Add(1)
	go c.run()
	t.Cleanup(func() {
		close(c.stop)
		c.wg.Wait()
		c.s.Close()
	})
	return c
}

func (c *client) run() {
	defer c.wg.Done()
	var buf []Response
	for {
		c.mu.Lock()
		paused := c.mu.paused
		c.mu.Unlock()
		if paused {
			select {
			case <-c.resume:
				continue
			case <-c.stop:
				return
			}
		}
		select {
		case <-c.s.Ready():
		case <-c.resume:
		case <-c.stop:
			return
		}
		for {
			c.mu.Lock()
			paused := c.mu.paused
			c.mu.Unlock()
			if paused {
				break
			}
			buf = c.s.Pop(buf[:0], 64<<10)
			if len(buf) == 0 {
				break
			}
			c.mu.Lock()
			for _, r := range buf {
				c.mu.got = append(c.mu.got, r.WatchResponse)
			}
			c.mu.Unlock()
			poke(c.changed)
		}
	}
}

func (c *client) pause() {
	c.mu.Lock()
	c.mu.paused = true
	c.mu.Unlock()
	poke(c.resume)
}

func (c *client) unpause() {
	c.mu.Lock()
	c.mu.paused = false
	c.mu.Unlock()
	poke(c.resume)
}

func (c *client) req(r *pb.WatchRequest) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.s.Request(ctx, r); err != nil {
		c.t.Fatalf("request: %v", err)
	}
}

func (c *client) create(cr *pb.WatchCreateRequest) {
	c.t.Helper()
	c.req(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: cr}})
}

func (c *client) cancel(id int64) {
	c.t.Helper()
	c.req(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CancelRequest{CancelRequest: &pb.WatchCancelRequest{WatchId: id}}})
}

func (c *client) progress() {
	c.t.Helper()
	c.req(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}})
}

func (c *client) responses() []*pb.WatchResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*pb.WatchResponse(nil), c.mu.got...)
}

// wait waits until ok holds for the responses so far.
func (c *client) wait(what string, ok func([]*pb.WatchResponse) bool) []*pb.WatchResponse {
	c.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		rs := c.responses()
		if ok(rs) {
			return rs
		}
		select {
		case <-c.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			c.t.Fatalf("timed out waiting for %s; got:\n%s", what, fmtResps(rs))
		}
	}
}

// tryEvents waits up to 5s for watch id to get n events and returns what
// it got.
func (c *client) tryEvents(id int64, n int) []mvccpb.Event {
	deadline := time.Now().Add(5 * time.Second)
	for {
		evs := events(c.responses(), id)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitN waits for n responses and returns them.
func (c *client) waitN(n int) []*pb.WatchResponse {
	c.t.Helper()
	return c.wait(fmt.Sprintf("%d responses", n), func(rs []*pb.WatchResponse) bool { return len(rs) >= n })
}

// events returns the events sent to watch id, in order.
func events(rs []*pb.WatchResponse, id int64) []mvccpb.Event {
	var out []mvccpb.Event
	for _, r := range rs {
		if r.WatchId != id {
			continue
		}
		for _, e := range r.Events {
			out = append(out, *e)
		}
	}
	return out
}

// waitEvents waits until watch id got n events.
func (c *client) waitEvents(id int64, n int) []mvccpb.Event {
	c.t.Helper()
	rs := c.wait(fmt.Sprintf("%d events for watch %d", n, id), func(rs []*pb.WatchResponse) bool { return len(events(rs, id)) >= n })
	return events(rs, id)
}

func fmtResps(rs []*pb.WatchResponse) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %s\n", fmtResp(r))
	}
	return b.String()
}

func fmtResp(r *pb.WatchResponse) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id=%d rev=%d", r.WatchId, r.Header.GetRevision())
	if r.Created {
		b.WriteString(" created")
	}
	if r.Canceled {
		fmt.Fprintf(&b, " canceled(%q)", r.CancelReason)
	}
	if r.CompactRevision != 0 {
		fmt.Fprintf(&b, " compact=%d", r.CompactRevision)
	}
	for _, e := range r.Events {
		fmt.Fprintf(&b, " %s", fmtEv(*e))
	}
	return b.String()
}

func fmtEv(e mvccpb.Event) string {
	s := fmt.Sprintf("%s %s@%d", e.Type, e.Kv.Key, e.Kv.ModRevision)
	if e.Type == mvccpb.PUT {
		s += "=" + string(e.Kv.Value)
	}
	if e.PrevKv != nil {
		s += fmt.Sprintf("(prev %s@%d)", e.PrevKv.Value, e.PrevKv.ModRevision)
	}
	return s
}

// sameEvents compares event sequences, prev_kv included.
func sameEvents(t *testing.T, what string, got, want []mvccpb.Event) {
	t.Helper()
	if len(got) == len(want) {
		same := true
		for i := range got {
			if !eventEqual(&got[i], &want[i]) {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	var g, w []string
	for _, e := range got {
		g = append(g, fmtEv(e))
	}
	for _, e := range want {
		w = append(w, fmtEv(e))
	}
	t.Fatalf("%s: events differ\n got  (%d) %v\n want (%d) %v", what, len(got), g, len(want), w)
}

func createReq(key, end string, start int64) *pb.WatchCreateRequest {
	r := &pb.WatchCreateRequest{Key: []byte(key), StartRevision: start}
	if end != "" {
		r.RangeEnd = []byte(end)
	}
	return r
}

// do runs f on the hub goroutine and waits for it.
func (h *Hub) do(f func()) {
	done := make(chan struct{})
	h.reqc <- request{kind: reqFunc, fn: func() { f(); close(done) }}
	<-done
}

func eventEqual(a, b *mvccpb.Event) bool {
	return a.Type == b.Type && kvEqual(a.Kv, b.Kv) && kvEqual(a.PrevKv, b.PrevKv)
}

func kvEqual(a, b *mvccpb.KeyValue) bool {
	if a == nil || b == nil {
		return a == b
	}
	return string(a.Key) == string(b.Key) && string(a.Value) == string(b.Value) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision &&
		a.Version == b.Version && a.Lease == b.Lease
}

// waitHub waits until the hub has dispatched every event up to rev.
func waitHub(t *testing.T, h *Hub, rev int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var at int64
		h.do(func() { at = h.rev })
		if at >= rev {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub at %d, want %d", at, rev)
		}
		time.Sleep(time.Millisecond)
	}
}
