package watch

import (
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// batch is the events of one Notify call: whole revisions, in order.
type batch struct {
	evs   []mvccpb.Event // PrevKv set when the key existed
	rev   int64          // the store's revision after the batch
	first int64          // revision of the first event

	// Filled by prepare, on the hub goroutine; read-only afterwards, so
	// responses in many streams can share them.
	plain    []*mvccpb.Event // without PrevKv
	withPrev []*mvccpb.Event // as given
	size     []int32         // encoded size of plain[i]
	sizePrev []int32         // encoded size of withPrev[i]
	bytes    int             // approximate memory, for the ring
}

// prepare builds the shared views of the events.
func (b *batch) prepare() {
	n := len(b.evs)
	b.plain = make([]*mvccpb.Event, n)
	b.withPrev = make([]*mvccpb.Event, n)
	b.size = make([]int32, n)
	b.sizePrev = make([]int32, n)
	plain := make([]mvccpb.Event, n)
	for i := range b.evs {
		ev := &b.evs[i]
		plain[i] = mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		b.plain[i] = &plain[i]
		b.withPrev[i] = ev
		s := plain[i].Size()
		b.size[i] = int32(s)
		sp := s
		if ev.PrevKv != nil {
			sp = ev.Size()
		}
		b.sizePrev[i] = int32(sp)
		b.bytes += sp + 64
	}
}

// event returns event i as a watcher with or without prev_kv sees it, and
// its encoded size.
func (b *batch) event(i int, prev bool) (*mvccpb.Event, int) {
	if prev {
		return b.withPrev[i], int(b.sizePrev[i])
	}
	return b.plain[i], int(b.size[i])
}

// eventsFor returns the events picked (indexes into evs, in order) that w
// has not had yet, and their size. When that is the whole batch it shares
// the batch's slice.
func (b *batch) eventsFor(w *watcher, picked []int32) ([]*mvccpb.Event, int) {
	all := b.plain
	if w.prevKV {
		all = b.withPrev
	}
	start := 0
	for start < len(picked) && b.evs[picked[start]].Kv.ModRevision < w.nextRev {
		start++
	}
	picked = picked[start:]
	if len(picked) == 0 {
		return nil, 0
	}
	if len(picked) == len(b.evs) {
		size := 0
		for i := range picked {
			_, n := b.event(i, w.prevKV)
			size += n
		}
		return all, size
	}
	out := make([]*mvccpb.Event, len(picked))
	size := 0
	for j, i := range picked {
		e, n := b.event(int(i), w.prevKV)
		out[j] = e
		size += n
	}
	return out, size
}

// inbox holds batches from Notify until the hub goroutine takes them.
// Notify must never block, so when more than maxEvents events or maxBytes
// bytes wait, later batches are dropped and only their revision is kept:
// the hub then serves everyone from storage.
type inbox struct {
	poke chan struct{} // cap 1

	mu struct {
		sync.Mutex
		bs       []batch
		events   int
		bytes    int
		overflow bool
		overRev  int64 // revision after the last dropped batch
	}
	maxEvents, maxBytes int
}

func (in *inbox) init(maxEvents, maxBytes int) {
	in.poke = make(chan struct{}, 1)
	in.maxEvents, in.maxBytes = maxEvents, maxBytes
}

func (in *inbox) add(evs []mvccpb.Event, rev int64) {
	n := 0
	for i := range evs {
		n += eventMem(&evs[i])
	}
	in.mu.Lock()
	switch {
	case in.mu.overflow:
		in.mu.overRev = rev
	case in.mu.events > 0 && (in.mu.events+len(evs) > in.maxEvents || in.mu.bytes+n > in.maxBytes):
		in.mu.overflow, in.mu.overRev = true, rev
	default:
		in.mu.bs = append(in.mu.bs, batch{evs: evs, rev: rev, first: evs[0].Kv.ModRevision})
		in.mu.events += len(evs)
		in.mu.bytes += n
	}
	in.mu.Unlock()
	poke(in.poke)
}

// gap records that the revisions up to rev came without events.
func (in *inbox) gap(rev int64) {
	in.mu.Lock()
	in.mu.overflow, in.mu.overRev = true, rev
	in.mu.Unlock()
	poke(in.poke)
}

// eventMem approximates the memory an event holds.
func eventMem(ev *mvccpb.Event) int {
	n := 128 + len(ev.Kv.Key) + len(ev.Kv.Value)
	if ev.PrevKv != nil {
		n += 64 + len(ev.PrevKv.Key) + len(ev.PrevKv.Value)
	}
	return n
}

func (in *inbox) take() (bs []batch, overflow bool, overRev int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	bs, overflow, overRev = in.mu.bs, in.mu.overflow, in.mu.overRev
	in.mu.bs, in.mu.events, in.mu.bytes, in.mu.overflow, in.mu.overRev = nil, 0, 0, false, 0
	return bs, overflow, overRev
}

// handoff carries watchers from catch-up back to the hub.
type handoff struct {
	poke chan struct{}
	mu   struct {
		sync.Mutex
		ws []*watcher
	}
}

func (h *handoff) init() { h.poke = make(chan struct{}, 1) }

func (h *handoff) add(w *watcher) {
	h.mu.Lock()
	h.mu.ws = append(h.mu.ws, w)
	h.mu.Unlock()
	poke(h.poke)
}

func (h *handoff) take() []*watcher {
	h.mu.Lock()
	defer h.mu.Unlock()
	ws := h.mu.ws
	h.mu.ws = nil
	return ws
}

// ring keeps the most recent batches, up to a byte budget, so a watcher a
// little behind the hub is brought up to date without reading storage.
type ring struct {
	max   int
	bs    []*batch
	head  int
	bytes int
	// start is the lowest revision the ring can replay from: every event
	// with a revision >= start and <= the hub's revision is in bs.
	start int64
}

func (r *ring) init(max int, rev int64) {
	r.max = max
	r.start = rev + 1
}

// covers reports whether the ring holds every event from rev on.
func (r *ring) covers(rev int64) bool { return r.max > 0 && rev >= r.start }

func (r *ring) add(b *batch) {
	if r.max <= 0 {
		r.start = b.rev + 1
		return
	}
	r.bs = append(r.bs, b)
	r.bytes += b.bytes
	for r.bytes > r.max && r.head < len(r.bs) {
		old := r.bs[r.head]
		r.bs[r.head] = nil
		r.head++
		r.bytes -= old.bytes
		r.start = old.rev + 1
	}
	if r.head > 64 && r.head*2 > len(r.bs) {
		k := copy(r.bs, r.bs[r.head:])
		clear(r.bs[k:])
		r.bs, r.head = r.bs[:k], 0
	}
}

// reset empties the ring after a gap: it covers nothing up to rev.
func (r *ring) reset(rev int64) {
	clear(r.bs)
	r.bs, r.head, r.bytes = r.bs[:0], 0, 0
	r.start = rev + 1
}

// from returns the batches that hold events with revision >= rev.
func (r *ring) from(rev int64) []*batch {
	bs := r.bs[r.head:]
	lo, hi := 0, len(bs)
	for lo < hi {
		m := (lo + hi) / 2
		if bs[m].rev < rev {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return bs[lo:]
}
