package watch

import (
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func TestCreateThenEvents(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	c := newClient(t, h)
	c.create(createReq("a", "", 0))
	rs := c.waitN(1)
	if r := rs[0]; !r.Created || r.WatchId != 0 || r.Canceled || r.Header.Revision != 1 {
		t.Fatalf("first response %s, want created id 0 at revision 1", fmtResp(r))
	}
	m.put("a", "1")
	m.put("b", "1")
	m.del("a")
	got := c.waitEvents(0, 2)
	sameEvents(t, "watch a", got, m.history(2, bounds{key: []byte("a")}, false, false, false))
	rs = c.responses()
	for _, r := range rs[1:] {
		if r.Header.Revision != r.Events[len(r.Events)-1].Kv.ModRevision {
			t.Errorf("event response %s: want the header at its last event", fmtResp(r))
		}
	}
}

// A consumer that fell behind gets its queued event responses joined, but
// never across a progress response or a control response of the watcher.
func TestMergeQueued(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	c := newClient(t, h)
	c.create(createReq("a", "", 0))
	c.create(createReq("b", "", 0))
	c.waitN(2)
	c.pause()
	m.put("a", "1")
	m.put("b", "1")
	m.put("a", "2")
	waitHub(t, h, 4)
	c.progress()
	m.put("a", "3")
	m.put("a", "4")
	waitHub(t, h, 6)
	c.cancel(0)
	c.progress() // answered only after the cancel: nothing is behind
	c.unpause()
	rs := c.waitN(8)
	want := []string{
		"id=0 rev=1 created",
		"id=1 rev=1 created",
		"id=0 rev=4 PUT a@2=1 PUT a@4=2",
		"id=1 rev=3 PUT b@3=1",
		"id=-1 rev=4",
		"id=0 rev=6 PUT a@5=3 PUT a@6=4",
		`id=0 rev=6 canceled("")`,
		"id=-1 rev=6",
	}
	for i, w := range want {
		if got := fmtResp(rs[i]); got != w {
			t.Errorf("response %d: %s, want %s", i, got, w)
		}
	}
}

func TestWatchIDs(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	c := newClient(t, h)
	c.create(createReq("a", "", 0))                                       // 0
	c.create(&pb.WatchCreateRequest{Key: []byte("a"), WatchId: 1})        // 1, client-chosen
	c.create(createReq("a", "", 0))                                       // 2: skips the taken 1
	c.create(&pb.WatchCreateRequest{Key: []byte("a"), WatchId: 2})        // duplicate
	c.create(createReq("b", "a", 0))                                      // empty range
	c.create(&pb.WatchCreateRequest{Key: []byte("a"), StartRevision: -1}) // negative start
	c.cancel(7)                                                           // unknown: no answer
	c.cancel(1)
	c.create(createReq("a", "", 0)) // 3
	rs := c.waitN(8)
	want := []string{
		`id=0 rev=1 created`,
		`id=1 rev=1 created`,
		`id=2 rev=1 created`,
		`id=-1 rev=1 created canceled("mvcc: duplicate watch ID provided on the WatchStream")`,
		`id=-1 rev=1 created canceled("mvcc: watcher range is empty")`,
		`id=-1 rev=1 created canceled("etcdserver: mvcc: required revision has been compacted")`,
		`id=1 rev=1 canceled("")`,
		`id=3 rev=1 created`,
	}
	for i, w := range want {
		if got := fmtResp(rs[i]); got != w {
			t.Errorf("response %d: %s, want %s", i, got, w)
		}
	}
	m.put("a", "x")
	rs = c.wait("events for 0, 2, 3", func(rs []*pb.WatchResponse) bool {
		return len(events(rs, 0)) == 1 && len(events(rs, 2)) == 1 && len(events(rs, 3)) == 1
	})
	if len(events(rs, 1)) != 0 {
		t.Errorf("canceled watch 1 got events")
	}
}

func TestStartRevisionFromStorage(t *testing.T) {
	for _, ring := range []int{-1, 0} {
		m := newMemStore()
		h := newTestHub(t, m, Config{RingBytes: ring, ReadLimit: 2})
		for i := 0; i < 10; i++ {
			m.write(op{key: "a", val: "v"}, op{key: "b", val: "v"})
			m.put("c", "v")
		}
		c := newClient(t, h)
		c.create(&pb.WatchCreateRequest{Key: []byte("a"), RangeEnd: []byte("c"), StartRevision: 5, PrevKv: true})
		c.create(&pb.WatchCreateRequest{Key: []byte("a"), RangeEnd: []byte{0}, StartRevision: 2})
		want0 := m.history(5, bounds{key: []byte("a"), end: []byte("c"), kind: boundsRange}, true, false, false)
		got := c.waitEvents(0, len(want0))
		sameEvents(t, "watch [a,c) from 5", got, want0)
		want1 := m.history(2, bounds{key: []byte("a"), kind: boundsFromKey}, false, false, false)
		sameEvents(t, "watch >= a from 2", c.waitEvents(1, len(want1)), want1)
		// Whole revisions per response: a and b of one txn together.
		for _, r := range c.responses() {
			if len(r.Events) > 0 && r.Events[len(r.Events)-1].Kv.Key[0] == 'a' && r.WatchId == 0 {
				t.Errorf("ring %d: response ends inside a txn: %s", ring, fmtResp(r))
			}
		}
		// Both then follow new writes.
		m.write(op{key: "a", val: "new"}, op{key: "b", val: "new"})
		c.waitEvents(0, len(want0)+2)
		c.waitEvents(1, len(want1)+2)
	}
}

func TestCompacted(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	for i := 0; i < 5; i++ {
		m.put("a", "v") // 2..6
	}
	m.compactAt(4)
	waitHub(t, h, 6)
	c := newClient(t, h)
	c.create(createReq("a", "", 3))
	c.create(createReq("a", "", 4)) // the compact revision itself is kept
	rs := c.wait("compaction", func(rs []*pb.WatchResponse) bool { return len(rs) >= 4 && len(events(rs, 1)) == 3 })
	var compacted *pb.WatchResponse
	for _, r := range rs {
		if r.WatchId == 0 && !r.Created {
			compacted = r
		}
	}
	if !rs[0].Created || rs[0].WatchId != 0 || compacted == nil || !compacted.Canceled || compacted.CompactRevision != 4 || len(compacted.Events) != 0 || compacted.Header.Revision != 0 {
		t.Fatalf("want created then canceled with compact_revision 4 (header revision 0, as etcd); got\n%s", fmtResps(rs))
	}
	m.put("a", "v")
	c.waitEvents(1, 4)
	if n := len(events(c.responses(), 0)); n != 0 {
		t.Errorf("compacted watch got %d events", n)
	}
}

func TestFiltersAndPrevKV(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	c := newClient(t, h)
	c.create(&pb.WatchCreateRequest{Key: []byte("k"), RangeEnd: []byte("l"), Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT}, PrevKv: true})
	c.create(&pb.WatchCreateRequest{Key: []byte("k"), RangeEnd: []byte("l"), Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NODELETE}})
	c.waitN(2)
	m.put("k1", "a")
	m.put("k1", "b")
	m.del("k1")
	m.write(op{key: "k2", val: "x"}, op{key: "k3", val: "y"})
	m.write(op{key: "k2", del: true}, op{key: "k3", del: true})
	b := bounds{key: []byte("k"), end: []byte("l"), kind: boundsRange}
	sameEvents(t, "NOPUT with prev_kv", c.waitEvents(0, 3), m.history(0, b, true, true, false))
	sameEvents(t, "NODELETE", c.waitEvents(1, 4), m.history(0, b, false, false, true))
	// All events of a watcher filtered out: no response at all.
	for _, r := range c.responses() {
		if !r.Created && len(r.Events) == 0 {
			t.Errorf("empty response %s", fmtResp(r))
		}
	}
}

func TestProgressRequest(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	m.put("a", "1") // 2
	waitHub(t, h, 2)
	c := newClient(t, h)
	c.progress() // no watchers: no answer (etcd 3.6)
	c.create(createReq("a", "", 0))
	c.progress()
	rs := c.waitN(2)
	if r := rs[1]; r.WatchId != -1 || r.Created || r.Canceled || len(r.Events) != 0 || r.Header.Revision != 2 {
		t.Fatalf("progress response %s, want id -1 at revision 2; all:\n%s", fmtResp(r), fmtResps(rs))
	}

	// A watcher that is behind (its stream is full: it waits in catch-up)
	// holds the answer back.
	m2 := newMemStore()
	h2 := newTestHub(t, m2, Config{StreamBudget: 1, RingBytes: -1})
	c2 := newClient(t, h2)
	c2.create(createReq("a", "", 0))
	c2.waitN(1)
	c2.pause()
	m2.put("a", "1")
	m2.put("a", "2") // the queue is over budget now: the watcher leaves the hot path
	waitHub(t, h2, 3)
	c2.progress()
	time.Sleep(50 * time.Millisecond)
	c2.unpause()
	rs = c2.wait("both events", func(rs []*pb.WatchResponse) bool { return len(events(rs, 0)) == 2 })
	for _, r := range rs {
		if r.WatchId == -1 {
			t.Fatalf("progress answered while a watcher was behind:\n%s", fmtResps(rs))
		}
	}
	// The watcher may still be finishing its catch-up after delivering the
	// last event; a request then gets no answer, so ask until one comes.
	c2.progress()
	rs = c2.wait("progress", func(rs []*pb.WatchResponse) bool {
		if rs[len(rs)-1].WatchId == -1 {
			return true
		}
		c2.progress()
		return false
	})
	if r := rs[len(rs)-1]; r.Header.Revision != 3 {
		t.Errorf("progress at %d, want 3", r.Header.Revision)
	}
}

func TestProgressTick(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	c := newClient(t, h)
	c.create(&pb.WatchCreateRequest{Key: []byte("a"), ProgressNotify: true})
	c.create(&pb.WatchCreateRequest{Key: []byte("b")})
	c.waitN(2)
	c.s.ProgressTick() // nothing sent since creation: notify
	rs := c.waitN(3)
	if r := rs[2]; r.WatchId != 0 || len(r.Events) != 0 || r.Created || r.Header.Revision != 1 {
		t.Fatalf("tick: %s, want an empty response for watch 0 at revision 1", fmtResp(r))
	}
	m.put("a", "1")
	c.waitEvents(0, 1)
	c.s.ProgressTick() // events since the last tick: nothing
	m.put("b", "1")
	c.waitEvents(1, 1)
	c.s.ProgressTick() // quiet again: notify at 3
	rs = c.wait("second notify", func(rs []*pb.WatchResponse) bool {
		r := rs[len(rs)-1]
		return r.WatchId == 0 && len(r.Events) == 0
	})
	if len(rs) != 6 || rs[5].Header.Revision != 3 {
		t.Fatalf("want 6 responses ending with a notify at 3, got:\n%s", fmtResps(rs))
	}
}

// A consumer that stops reading holds at most about its budget; the rest
// waits in storage, and it gets everything in order once it reads again.
// Another stream is not held up meanwhile.
func TestSlowConsumer(t *testing.T) {
	m := newMemStore()
	const budget = 64 << 10
	h := newTestHub(t, m, Config{StreamBudget: budget, RingBytes: 32 << 10, ReadLimit: 100})
	slow, fast := newClient(t, h), newClient(t, h)
	slow.create(&pb.WatchCreateRequest{Key: []byte("k"), RangeEnd: []byte("l"), PrevKv: true})
	fast.create(&pb.WatchCreateRequest{Key: []byte("k"), RangeEnd: []byte("l")})
	slow.waitN(1)
	fast.waitN(1)
	slow.pause()
	val := string(make([]byte, 200))
	maxQueued := 0
	for i := 0; i < 3000; i++ {
		m.put("k"+itoa(i%50), val)
		if _, b := slow.s.queued(); b > maxQueued {
			maxQueued = b
		}
	}
	b := bounds{key: []byte("k"), end: []byte("l"), kind: boundsRange}
	sameEvents(t, "fast consumer", fast.waitEvents(0, 3000), m.history(0, b, false, false, false))
	if maxQueued > budget+8<<10 {
		t.Errorf("slow stream queued %d bytes, budget %d", maxQueued, budget)
	}
	slow.unpause()
	sameEvents(t, "slow consumer", slow.waitEvents(0, 3000), m.history(0, b, true, false, false))
	m.put("k0", "after")
	slow.waitEvents(0, 3001)
}

func TestInboxOverflow(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{InboxEvents: 1, RingBytes: -1})
	c := newClient(t, h)
	c.create(createReq("k", "l", 0))
	c.waitN(1)
	for i := 0; i < 2000; i++ {
		m.write(op{key: "k" + itoa(i%7), val: "v"}, op{key: "j", val: "v"})
	}
	b := bounds{key: []byte("k"), end: []byte("l"), kind: boundsRange}
	sameEvents(t, "after overflow", c.waitEvents(0, 2000), m.history(0, b, false, false, false))
}

func TestCancelAndClose(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	c := newClient(t, h)
	c.create(createReq("a", "", 0))
	c.waitN(1)
	m.put("a", "1")
	c.waitEvents(0, 1)
	c.cancel(0)
	rs := c.waitN(3)
	m.put("a", "2")
	c2 := newClient(t, h)
	c2.create(createReq("a", "", 2))
	c2.waitEvents(0, 2)
	if len(rs) != 3 || !rs[2].Canceled || rs[2].WatchId != 0 {
		t.Fatalf("want created, event, canceled; got\n%s", fmtResps(rs))
	}
	c2.s.Close()
	m.put("a", "3")
	var n int
	h.do(func() { n = h.synced.n })
	if n != 0 {
		t.Errorf("%d watchers left in the index after cancel and close", n)
	}
}

func TestRingReplay(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	for i := 0; i < 20; i++ {
		m.put("a", itoa(i))
	}
	waitHub(t, h, 21)
	c := newClient(t, h)
	c.create(&pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 10, PrevKv: true})
	want := m.history(10, bounds{key: []byte("a")}, true, false, false)
	sameEvents(t, "replay", c.waitEvents(0, len(want)), want)
	var cu int
	h.do(func() { cu = h.synced.n })
	if cu != 1 {
		t.Errorf("replayed watcher not synced")
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// A revision that moves without events (a snapshot replaced the state)
// sends the synced watchers to storage for what they missed.
func TestGap(t *testing.T) {
	m := newMemStore()
	h := newTestHub(t, m, Config{})
	c := newClient(t, h)
	c.create(createReq("a", "", 0))
	c.waitN(1)
	m.put("a", "1") // 2, notified
	// Revisions 3 and 4 land in the store without reaching the hub, as
	// with a snapshot install.
	m.mu.Lock()
	m.hub = nil
	m.mu.Unlock()
	m.put("a", "2")
	m.put("b", "2")
	m.mu.Lock()
	m.hub = h
	m.mu.Unlock()
	h.Notify(nil, 4)
	want := m.history(2, bounds{key: []byte("a")}, false, false, false)
	sameEvents(t, "after the gap", c.waitEvents(0, 2), want)
	// Events after a gap without the explicit call are caught too.
	m.mu.Lock()
	m.hub = nil
	m.mu.Unlock()
	m.put("a", "3") // 5
	m.mu.Lock()
	m.hub = h
	m.mu.Unlock()
	m.put("a", "4") // 6: the hub sees 6 after 4
	want = m.history(2, bounds{key: []byte("a")}, false, false, false)
	sameEvents(t, "after a silent gap", c.waitEvents(0, 4), want)
}
