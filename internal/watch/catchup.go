package watch

import (
	"cmp"
	"slices"
	"sort"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"
)

// retryAfter is how long catch-up waits after a storage error.
const retryAfter = 100 * time.Millisecond

// catchUp serves the watchers that are behind the hub from storage. One
// goroutine owns the watchers it holds. Each round reads one slice of
// history from a fresh snapshot, starting at the lowest position of the
// watchers it serves, and queues it for every one of them; so many
// watchers behind cost one read. Rounds alternate between the watcher
// furthest behind and the one closest to done, so an old start revision
// does not hold up a watcher that is nearly caught up. A watcher whose
// stream is over budget is parked until the stream drains. A watcher past
// the snapshot goes back to the hub.
type catchUp struct {
	h    *Hub
	poke chan struct{}
	in   struct {
		sync.Mutex
		ws []*watcher
	}

	// Owned by the catch-up goroutine.
	set   []*watcher
	turn  int
	live  []*watcher
	ready []*watcher
}

func newCatchUp(h *Hub) *catchUp {
	return &catchUp{h: h, poke: make(chan struct{}, 1)}
}

// add hands w to catch-up. Called by the hub goroutine, which gives up w.
func (c *catchUp) add(w *watcher) {
	c.in.Lock()
	c.in.ws = append(c.in.ws, w)
	c.in.Unlock()
	poke(c.poke)
}

// wake makes catch-up look at its parked watchers again.
func (c *catchUp) wake() { poke(c.poke) }

func (c *catchUp) run() {
	defer c.h.wg.Done()
	var retry <-chan time.Time
	for {
		select {
		case <-c.poke:
		case <-retry:
		case <-c.h.stopc:
			return
		}
		retry = nil
		for {
			select {
			case <-c.h.stopc:
				return
			default:
			}
			more, err := c.round()
			if err != nil {
				c.h.lg.Warn("watch catch-up failed to read history; retrying", zap.Error(err))
				retry = time.After(retryAfter)
				break
			}
			if !more {
				break
			}
		}
	}
}

// round serves the watchers that can take events once. It reports whether
// any could.
func (c *catchUp) round() (bool, error) {
	c.in.Lock()
	c.set = append(c.set, c.in.ws...)
	clear(c.in.ws)
	c.in.ws = c.in.ws[:0]
	c.in.Unlock()

	ready := c.ready[:0]
	keep := c.set[:0]
	for _, w := range c.set {
		switch w.s.room(w) {
		case pushGone:
		case pushFull:
			keep = append(keep, w)
		default:
			ready = append(ready, w)
		}
	}
	clear(c.set[len(keep):])
	c.set = keep
	defer func() { clear(ready); c.ready = ready[:0] }()
	if len(ready) == 0 {
		return false, nil
	}

	rt := c.h.cfg.Store.Read()
	defer rt.Close()
	rev, compactRev := rt.Rev(), rt.CompactRev()
	live := c.live[:0]
	defer func() { clear(live); c.live = live[:0] }()
	for _, w := range ready {
		switch {
		case w.nextRev < compactRev:
			c.compacted(w, compactRev)
		case w.nextRev > rev:
			c.h.back.add(w)
		default:
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		return true, nil
	}

	slices.SortFunc(live, func(a, b *watcher) int { return cmp.Compare(a.nextRev, b.nextRev) })
	c.turn++
	start := live[0].nextRev
	if c.turn%2 == 0 {
		start = live[len(live)-1].nextRev
	}
	var sp span
	for _, w := range live {
		if w.nextRev >= start {
			sp.add(&w.b)
		}
	}
	evs, next, err := rt.Events(start, sp.key, sp.rangeEnd(), c.h.cfg.ReadLimit)
	if err != nil {
		c.set = append(c.set, live...)
		return false, err
	}
	v := view{evs: evs, rt: rt}
	for _, w := range live {
		if w.nextRev >= start && w.nextRev < next {
			c.serve(w, &v, next)
		}
		if w.nextRev > rev && !w.canceled.Load() {
			c.h.back.add(w)
		} else {
			c.set = append(c.set, w)
		}
	}
	return true, nil
}

// serve queues the events of v for w from w.nextRev, up to next, in
// responses of about MaxResponseBytes split at revision boundaries. It
// stops early if w's stream fills up.
func (c *catchUp) serve(w *watcher, v *view, next int64) {
	i := sort.Search(len(v.evs), func(i int) bool { return v.evs[i].Kv.ModRevision >= w.nextRev })
	var (
		out  []*mvccpb.Event
		size int
	)
	flush := func(upTo int64) bool {
		if len(out) > 0 {
			if w.s.pushEvents(w, c.h.cfg.Header(upTo), out, size) != pushed {
				return false
			}
			out, size = nil, 0
		}
		w.nextRev = upTo + 1
		return true
	}
	for ; i < len(v.evs); i++ {
		ev := &v.evs[i]
		rev := ev.Kv.ModRevision
		if size >= c.h.cfg.MaxResponseBytes && rev != out[len(out)-1].Kv.ModRevision {
			if !flush(rev-1) || w.s.full() {
				return
			}
		}
		if !w.match(ev.Kv.Key, ev.Type == mvccpb.PUT) {
			continue
		}
		e, n := v.event(i, w.prevKV)
		out = append(out, e)
		size += n
	}
	flush(next - 1)
}

// compacted tells w that its start is compacted away: etcd's response
// with compact_revision and canceled set. w gets nothing after it.
func (c *catchUp) compacted(w *watcher, compactRev int64) {
	r := &pb.WatchResponse{Header: c.h.cfg.Header(0), WatchId: w.id, Canceled: true, CompactRevision: compactRev}
	w.s.pushOther(w, r, true)
}

// view is one storage read shared by the watchers a round serves; the
// per-event forms (with and without prev_kv) are built once, on demand.
type view struct {
	evs      []mvccpb.Event
	rt       Reader
	plain    []*mvccpb.Event
	withPrev []*mvccpb.Event
}

func (v *view) event(i int, prev bool) (*mvccpb.Event, int) {
	if !prev {
		if v.plain == nil {
			v.plain = make([]*mvccpb.Event, len(v.evs))
		}
		if v.plain[i] == nil {
			v.plain[i] = &v.evs[i]
		}
		return v.plain[i], v.plain[i].Size()
	}
	if v.withPrev == nil {
		v.withPrev = make([]*mvccpb.Event, len(v.evs))
	}
	if v.withPrev[i] == nil {
		e := v.evs[i]
		e.PrevKv = prevKV(v.rt, &e)
		v.withPrev[i] = &e
	}
	return v.withPrev[i], v.withPrev[i].Size()
}

// prevKV reads the key as it was before ev, as etcd does: nothing for a
// creation, nothing if that revision is compacted away.
func prevKV(rt Reader, ev *mvccpb.Event) *mvccpb.KeyValue {
	if ev.Type == mvccpb.PUT && ev.Kv.CreateRevision == ev.Kv.ModRevision {
		return nil
	}
	resp, err := rt.Range(&pb.RangeRequest{Key: ev.Kv.Key, Revision: ev.Kv.ModRevision - 1})
	if err != nil || len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0]
}
