package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairndb/cairn/internal/apply"
)

// idGen makes request IDs unique across members and restarts: the top 16 bits
// come from the member ID, the rest from the start time in milliseconds
// shifted left, plus a counter.
type idGen struct {
	prefix uint64
	suffix atomic.Uint64
}

func newIDGen(memberID uint64, now time.Time) *idGen {
	g := &idGen{prefix: (memberID & 0xffff) << 48}
	g.suffix.Store((uint64(now.UnixMilli()) & (1<<40 - 1)) << 8)
	return g
}

func (g *idGen) next() uint64 {
	return g.prefix | (g.suffix.Add(1) & (1<<48 - 1))
}

const waitShards = 64

// waitMap delivers apply results to the goroutine that proposed the request.
type waitMap struct {
	shards [waitShards]struct {
		sync.Mutex
		m map[uint64]chan apply.Result
	}
}

func newWaitMap() *waitMap {
	w := &waitMap{}
	for i := range w.shards {
		w.shards[i].m = make(map[uint64]chan apply.Result)
	}
	return w
}

func (w *waitMap) register(id uint64) <-chan apply.Result {
	ch := make(chan apply.Result, 1)
	s := &w.shards[id%waitShards]
	s.Lock()
	s.m[id] = ch
	s.Unlock()
	return ch
}

func (w *waitMap) trigger(id uint64, r apply.Result) {
	s := &w.shards[id%waitShards]
	s.Lock()
	ch, ok := s.m[id]
	delete(s.m, id)
	s.Unlock()
	if ok {
		ch <- r
	}
}

func (w *waitMap) cancel(id uint64) {
	s := &w.shards[id%waitShards]
	s.Lock()
	delete(s.m, id)
	s.Unlock()
}

// appliedWait lets readers wait until the state machine has applied (and
// committed to the database) a given raft index.
type appliedWait struct {
	applied atomic.Uint64
	mu      struct {
		sync.Mutex
		waiters []indexWaiter
	}
}

type indexWaiter struct {
	index uint64
	ch    chan struct{}
}

func (a *appliedWait) set(index uint64) {
	a.applied.Store(index)
	a.mu.Lock()
	kept := a.mu.waiters[:0]
	for _, w := range a.mu.waiters {
		if w.index <= index {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	for i := len(kept); i < len(a.mu.waiters); i++ {
		a.mu.waiters[i] = indexWaiter{}
	}
	a.mu.waiters = kept
	a.mu.Unlock()
}

func (a *appliedWait) wait(ctx context.Context, index uint64, stopc <-chan struct{}) error {
	if a.applied.Load() >= index {
		return nil
	}
	ch := make(chan struct{})
	a.mu.Lock()
	if a.applied.Load() >= index {
		a.mu.Unlock()
		return nil
	}
	a.mu.waiters = append(a.mu.waiters, indexWaiter{index: index, ch: ch})
	a.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stopc:
		return errStopped
	}
}
