package watch

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestModel runs random writers, watchers with random intervals, start
// revisions and options, consumers that pause at random, and tiny budgets
// that push watchers in and out of the hot path, then checks every watcher
// received exactly the store's history from its start, in whole revisions.
func TestModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		cfg := Config{
			StreamBudget:     []int{1, 2 << 10, 64 << 10}[rng.IntN(3)],
			RingBytes:        []int{-1, 4 << 10, 0}[rng.IntN(3)],
			ReadLimit:        1 + rng.IntN(50),
			InboxEvents:      []int{1, 100, 0}[rng.IntN(3)],
			MaxResponseBytes: []int{200, 0}[rng.IntN(2)],
		}
		t.Logf("seed %d: %+v", seed, cfg)
		runModel(t, rng, cfg)
	}
}

type modelWatch struct {
	c     *client
	id    int64
	req   *pb.WatchCreateRequest
	b     bounds
	start int64 // 0: from the created response's revision + 1
}

func runModel(t *testing.T, rng *rand.Rand, cfg Config) {
	m := newMemStore()
	h := newTestHub(t, m, cfg)
	keys := []string{"a", "a/1", "a/2", "ab", "b", "b/x", "c"}
	randKey := func() string { return keys[rng.IntN(len(keys))] }

	// Some history before any watcher.
	for i := 0; i < 50; i++ {
		m.put(randKey(), itoa(i))
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 3; w++ {
		wrng := rand.New(rand.NewPCG(rng.Uint64(), 0))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 400; i++ {
				switch wrng.IntN(4) {
				case 0:
					// Distinct keys: etcd refuses a txn writing a key twice.
					k1 := wrng.IntN(len(keys))
					k2 := (k1 + 1 + wrng.IntN(len(keys)-1)) % len(keys)
					m.write(op{key: keys[k1], val: "t"}, op{key: keys[k2], val: "t2"})
				case 1:
					m.del(keys[wrng.IntN(len(keys))])
				default:
					m.put(keys[wrng.IntN(len(keys))], itoa(i))
				}
			}
		}()
	}

	var clients []*client
	for i := 0; i < 4; i++ {
		clients = append(clients, newClient(t, h))
	}
	var ws []*modelWatch
	ids := map[*client]int64{}
	for i := 0; i < 24; i++ {
		c := clients[rng.IntN(len(clients))]
		req := &pb.WatchCreateRequest{Key: []byte(randKey()), PrevKv: rng.IntN(2) == 0}
		switch rng.IntN(3) {
		case 0:
			req.RangeEnd = prefixEnd(req.Key)
		case 1:
			req.RangeEnd = []byte{0}
		}
		if rng.IntN(4) == 0 {
			req.Filters = []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_FilterType(rng.IntN(2))}
		}
		cur := m.Read().Rev()
		if rng.IntN(3) > 0 {
			req.StartRevision = 1 + rng.Int64N(cur+5)
		}
		b, _ := makeBounds(req.Key, req.RangeEnd)
		ws = append(ws, &modelWatch{c: c, id: ids[c], req: req, b: b, start: req.StartRevision})
		ids[c]++
		c.create(req)
		if rng.IntN(5) == 0 {
			c.pause()
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
			c.unpause()
		}
	}
	pauserDone := make(chan struct{})
	go func() {
		defer close(pauserDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			c := clients[rng.IntN(len(clients))]
			c.pause()
			time.Sleep(time.Millisecond)
			c.unpause()
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	<-pauserDone
	for _, c := range clients {
		c.unpause()
	}
	final := m.Read().Rev()
	waitHub(t, h, final)

	for _, w := range ws {
		rs := w.c.wait("created", func(rs []*pb.WatchResponse) bool {
			for _, r := range rs {
				if r.WatchId == w.id && r.Created {
					return true
				}
			}
			return false
		})
		start := w.start
		if start == 0 {
			for _, r := range rs {
				if r.WatchId == w.id && r.Created {
					start = r.Header.Revision + 1
				}
			}
		}
		var noPut, noDel bool
		for _, f := range w.req.Filters {
			noPut = noPut || f == pb.WatchCreateRequest_NOPUT
			noDel = noDel || f == pb.WatchCreateRequest_NODELETE
		}
		want := m.history(start, w.b, w.req.PrevKv, noPut, noDel)
		got := w.c.tryEvents(w.id, len(want))
		sameEvents(t, fmtResp(&pb.WatchResponse{WatchId: w.id})+" "+string(w.req.Key)+"-"+string(w.req.RangeEnd), got, want)
		checkResponses(t, w.c.responses(), w.id)
	}
}

// checkResponses checks etcd's per-watcher guarantees on the responses:
// created first, revisions increasing, no revision split between two
// responses, the header at or after the last event.
func checkResponses(t *testing.T, rs []*pb.WatchResponse, id int64) {
	t.Helper()
	created := false
	var last int64
	for _, r := range rs {
		if r.WatchId != id {
			continue
		}
		if r.Created {
			if created {
				t.Fatalf("watch %d: created twice", id)
			}
			created = true
			continue
		}
		if !created {
			t.Fatalf("watch %d: %s before created", id, fmtResp(r))
		}
		for i, e := range r.Events {
			rev := e.Kv.ModRevision
			if rev < last || (i == 0 && rev == last) {
				t.Fatalf("watch %d: revision %d after %d (split or out of order): %s", id, rev, last, fmtResp(r))
			}
			last = rev
		}
		if len(r.Events) > 0 && r.Header.Revision < last {
			t.Fatalf("watch %d: header %d below its last event %d", id, r.Header.Revision, last)
		}
	}
}
