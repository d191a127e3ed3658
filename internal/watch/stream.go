package watch

import (
	"context"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// MaxPendingControl bounds the control responses (created, canceled,
// progress on request) a stream holds unsent; Request blocks beyond it,
// as etcd's receive loop does (ctrlStreamBufLen).
const MaxPendingControl = 128

// respOverhead is what a queued response costs beyond its events, for the
// byte budget.
const respOverhead = 96

// Response is one watch response ready to send.
type Response struct {
	*pb.WatchResponse
	// Fragment is set when the watcher asked for fragment: the sender
	// splits the response if it is larger than the request size limit.
	Fragment bool

	size int  // budget bytes
	ctrl bool // holds a control slot
}

// Stream is the hub's side of one gRPC watch stream: the watchers created
// on it and the queue of responses waiting to be sent. It is created by
// Hub.NewStream and ended by Close.
type Stream struct {
	h *Hub

	// Owned by the hub goroutine.
	watchers map[int64]*watcher
	nextID   int64

	readyc chan struct{} // cap 1: the queue became non-empty
	spacec chan struct{} // cap 1: control slots were freed
	donec  chan struct{} // closed by Close
	once   sync.Once

	mu struct {
		sync.Mutex
		q         []Response
		head      int
		bytes     int   // budget bytes queued
		ctrl      int   // control responses queued, plus slots reserved by Request
		popped    int64 // responses popped so far: q[head] is number popped
		barrier   int64 // number+1 of the last progress response for the stream
		closed    bool  // Close was called: nothing more is queued
		wantSpace bool  // catch-up parked a watcher here until the queue drains
		wantCtrl  bool  // Request waits for a control slot
	}
}

// watcher is one watch. Its fields have different owners; see each group.
type watcher struct {
	// Immutable after creation.
	id                     int64
	s                      *Stream
	b                      bounds
	noPut, noDelete        bool
	prevKV, fragment, prog bool

	// Owned by the hub goroutine.
	state  watcherState
	pos    int     // index in its synced set
	set    *wset   // synced set holding it
	picked []int32 // scratch: events of the batch being dispatched

	// Owned by whoever holds the watcher: the hub while it is synced,
	// catch-up while it is not (handed over through their inboxes).
	// Every event below nextRev has been queued.
	nextRev int64

	// Guarded by s.mu: number+1 of w's last queued event response, which
	// later events may join (0: none, or a response of w that is not
	// events came after it); owned is set once that response's Events
	// slice is its own (not shared with other watchers) and may grow.
	lastQ int64
	owned bool

	// canceled is set, under s.mu, once the watcher's last response (a
	// cancel, a compaction cancel) is queued or its stream closed: nothing
	// more is queued for it.
	canceled atomic.Bool
	// quiet is false once events are queued, and reset by each progress
	// tick: a tick finding it still true sends a progress notification.
	quiet atomic.Bool
}

type watcherState uint8

const (
	stateSynced   watcherState = iota // in the hub's index
	stateUnsynced                     // with catch-up, or on the way
	stateGone                         // canceled, or its stream closed
)

// match reports whether ev is for w: its key is watched and its type is
// not filtered out.
func (w *watcher) match(key []byte, put bool) bool {
	if (put && w.noPut) || (!put && w.noDelete) {
		return false
	}
	return w.b.contains(key)
}

// Request hands a request from the client to the hub. Requests are handled
// in the order given. Create, cancel and progress requests wait while
// MaxPendingControl control responses are unsent, so a client that does
// not read cannot make the server buffer without bound. It returns an
// error only when ctx ends, the stream is closed or the hub stopped.
func (s *Stream) Request(ctx context.Context, r *pb.WatchRequest) error {
	req := request{s: s}
	switch u := r.RequestUnion.(type) {
	case *pb.WatchRequest_CreateRequest:
		if u.CreateRequest == nil {
			return nil
		}
		req.kind, req.create = reqCreate, u.CreateRequest
	case *pb.WatchRequest_CancelRequest:
		if u.CancelRequest == nil {
			return nil
		}
		req.kind, req.id = reqCancel, u.CancelRequest.WatchId
	case *pb.WatchRequest_ProgressRequest:
		if u.ProgressRequest == nil {
			return nil
		}
		req.kind = reqProgress
	default:
		// etcd ignores unknown requests rather than ending the stream.
		return nil
	}
	if err := s.reserveCtrl(ctx); err != nil {
		return err
	}
	select {
	case s.h.reqc <- req:
		return nil
	case <-ctx.Done():
		s.releaseCtrl()
		return ctx.Err()
	case <-s.donec:
		return ErrStreamClosed
	case <-s.h.stopc:
		return ErrStopped
	}
}

// Deny answers a create request that was refused before the hub saw it
// (permission denied, invalid token) as etcd does: created and canceled,
// watch id -1, with reason. It keeps the order of the stream's replies.
func (s *Stream) Deny(ctx context.Context, reason string) error {
	if err := s.reserveCtrl(ctx); err != nil {
		return err
	}
	select {
	case s.h.reqc <- request{kind: reqCreate, s: s, deny: reason}:
		return nil
	case <-ctx.Done():
		s.releaseCtrl()
		return ctx.Err()
	case <-s.donec:
		return ErrStreamClosed
	case <-s.h.stopc:
		return ErrStopped
	}
}

// ProgressTick asks the hub to send progress notifications to the
// stream's progress_notify watchers that had no events since the last
// tick. It does not wait; a tick the hub has no room for is skipped.
func (s *Stream) ProgressTick() {
	select {
	case s.h.reqc <- request{kind: reqTick, s: s}:
	default:
	}
}

// Ready is signalled when responses are queued. After a signal, call Pop
// until it returns nothing.
func (s *Stream) Ready() <-chan struct{} { return s.readyc }

// Pop moves queued responses to buf, up to about maxBytes (at least one),
// and returns it. The responses are the caller's; their events and headers
// may be shared with other responses and must not be modified.
func (s *Stream) Pop(buf []Response, maxBytes int) []Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, freedCtrl := 0, false
	for s.mu.head < len(s.mu.q) && (n == 0 || n < maxBytes) {
		r := s.mu.q[s.mu.head]
		s.mu.q[s.mu.head] = Response{}
		s.mu.head++
		s.mu.popped++
		n += r.size
		s.mu.bytes -= r.size
		if r.ctrl {
			s.mu.ctrl--
			freedCtrl = true
		}
		buf = append(buf, r)
	}
	if s.mu.head == len(s.mu.q) {
		s.mu.q, s.mu.head = s.mu.q[:0], 0
	} else if s.mu.head > 1024 && s.mu.head*2 > len(s.mu.q) {
		k := copy(s.mu.q, s.mu.q[s.mu.head:])
		clear(s.mu.q[k:])
		s.mu.q, s.mu.head = s.mu.q[:k], 0
	}
	if freedCtrl && s.mu.wantCtrl {
		s.mu.wantCtrl = false
		poke(s.spacec)
	}
	if s.mu.wantSpace && s.mu.bytes <= s.h.cfg.StreamBudget/2 {
		s.mu.wantSpace = false
		s.h.cu.wake()
	}
	return buf
}

// maxMerged bounds, in bytes, the events that queued responses of one
// watcher are joined into.
const maxMerged = 1 << 20

// Close cancels every watcher of the stream and drops what is queued. It
// is safe to call more than once.
func (s *Stream) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.mu.closed = true
		s.mu.q, s.mu.head, s.mu.bytes = nil, 0, 0
		s.mu.Unlock()
		close(s.donec)
		select {
		case s.h.reqc <- request{kind: reqClose, s: s}:
		case <-s.h.stopc:
		}
	})
}

func (s *Stream) reserveCtrl(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			return ErrStreamClosed
		}
		if s.mu.ctrl < MaxPendingControl {
			s.mu.ctrl++
			s.mu.Unlock()
			return nil
		}
		s.mu.wantCtrl = true
		s.mu.Unlock()
		select {
		case <-s.spacec:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.donec:
			return ErrStreamClosed
		case <-s.h.stopc:
			return ErrStopped
		}
	}
}

// releaseCtrl gives back a slot reserved by Request that produced no
// response.
func (s *Stream) releaseCtrl() {
	s.mu.Lock()
	s.mu.ctrl--
	if s.mu.wantCtrl {
		s.mu.wantCtrl = false
		poke(s.spacec)
	}
	s.mu.Unlock()
}

// pushCtrl queues a control response in a slot reserved by Request. If w
// is not nil and cancel is set, w gets nothing more.
func (s *Stream) pushCtrl(r *pb.WatchResponse, w *watcher, cancel bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cancel && w != nil {
		w.canceled.Store(true)
	}
	if s.mu.closed {
		s.mu.ctrl--
		return
	}
	if w != nil {
		w.lastQ = 0
	}
	s.appendLocked(Response{WatchResponse: r, size: respOverhead, ctrl: true})
	if r.WatchId == invalidID {
		s.mu.barrier = s.mu.popped + int64(len(s.mu.q)-s.mu.head)
	}
}

type pushResult uint8

const (
	pushed   pushResult = iota
	pushFull            // over budget: nothing queued
	pushGone            // the watcher is canceled or its stream closed: dropped
)

// pushEvents queues events for w (one or more whole revisions, header at
// the last) unless the queue holds StreamBudget bytes already (it may go
// over by this response). They join w's last queued response when they can
// (see joinLocked).
func (s *Stream) pushEvents(w *watcher, hdr *pb.ResponseHeader, evs []*mvccpb.Event, size int) pushResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed || w.canceled.Load() {
		return pushGone
	}
	if s.mu.bytes >= s.h.cfg.StreamBudget {
		return pushFull
	}
	w.quiet.Store(false)
	if s.joinLocked(w, hdr, evs, size) {
		return pushed
	}
	r := &pb.WatchResponse{Header: hdr, WatchId: w.id, Events: evs}
	s.appendLocked(Response{WatchResponse: r, Fragment: w.fragment, size: size + respOverhead})
	w.lastQ = s.mu.popped + int64(len(s.mu.q)-s.mu.head)
	w.owned = false
	return pushed
}

// pushOther queues a response for w without events: a progress
// notification (dropped when over budget, as etcd does) or, with last, the
// compaction cancel (always queued), after which w gets nothing more.
func (s *Stream) pushOther(w *watcher, r *pb.WatchResponse, last bool) pushResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed || w.canceled.Load() {
		return pushGone
	}
	if !last && s.mu.bytes >= s.h.cfg.StreamBudget {
		return pushFull
	}
	if last {
		w.canceled.Store(true)
	}
	w.lastQ = 0 // nothing joins across it
	s.appendLocked(Response{WatchResponse: r, size: respOverhead})
	return pushed
}

// joinLocked adds evs to w's last queued response if it is still
// queued, nothing that must stay after it (a progress response for the
// stream, a control response of w) was queued since, and it stays below
// maxMerged. A consumer that fell behind thus gets fewer, larger
// responses. w's events only move earlier relative to other watchers',
// which etcd's guarantees allow: they are per watcher, and a progress
// response still follows every event at or below its revision.
func (s *Stream) joinLocked(w *watcher, hdr *pb.ResponseHeader, evs []*mvccpb.Event, size int) bool {
	if w.lastQ == 0 || w.lastQ <= s.mu.popped || w.lastQ <= s.mu.barrier {
		return false
	}
	q := &s.mu.q[s.mu.head+int(w.lastQ-1-s.mu.popped)]
	if q.size+size > maxMerged || q.WatchId != w.id {
		return false
	}
	if !w.owned {
		joined := make([]*mvccpb.Event, len(q.Events), 2*(len(q.Events)+len(evs)))
		copy(joined, q.Events)
		q.WatchResponse = &pb.WatchResponse{WatchId: w.id, Events: joined}
		w.owned = true
	}
	q.Events = append(q.Events, evs...)
	q.Header = hdr
	q.size += size
	s.mu.bytes += size
	return true
}

func (s *Stream) appendLocked(r Response) {
	s.mu.q = append(s.mu.q, r)
	s.mu.bytes += r.size
	if s.mu.head == len(s.mu.q)-1 {
		poke(s.readyc)
	}
}

// room reports whether catch-up may queue for w: pushGone if w is done,
// pushFull (and the stream will wake catch-up when it drains) if the queue
// is over budget.
func (s *Stream) room(w *watcher) pushResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed || w.canceled.Load() {
		return pushGone
	}
	if s.mu.bytes >= s.h.cfg.StreamBudget {
		s.mu.wantSpace = true
		return pushFull
	}
	return pushed
}

// full reports whether the queue is over budget, and if so asks to wake
// catch-up when it drains.
func (s *Stream) full() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.bytes >= s.h.cfg.StreamBudget {
		s.mu.wantSpace = true
		return true
	}
	return false
}

// queued returns the number of responses and budget bytes queued (tests).
func (s *Stream) queued() (n, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.q) - s.mu.head, s.mu.bytes
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
