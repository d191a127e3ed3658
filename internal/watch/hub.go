package watch

import (
	"errors"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"
)

// Errors returned to the stream's owner.
var (
	ErrStopped      = errors.New("watch: hub stopped")
	ErrStreamClosed = errors.New("watch: stream closed")
)

// Cancel reasons, byte-exact to etcd's (clients display them).
const (
	reasonCompacted = "etcdserver: mvcc: required revision has been compacted"
	reasonDuplicate = "mvcc: duplicate watch ID provided on the WatchStream"
	reasonEmpty     = "mvcc: watcher range is empty"
)

// invalidID is etcd's watch id for responses not tied to one watcher.
const invalidID = -1

// Store is the history the hub reads when a watcher is behind.
type Store interface {
	// Read returns a consistent view; the caller closes it.
	Read() Reader
	// CompactRev is the committed compacted revision (-1 if never).
	CompactRev() int64
}

// Reader is a consistent view of the store (mvcc.ReadTxn). One goroutine
// uses it at a time.
type Reader interface {
	Rev() int64
	CompactRev() int64
	// Events returns the events with revision >= startRev on keys in
	// [key, rangeEnd) (etcd's range_end rules), whole revisions only, and
	// the revision to continue from; see mvcc.ReadTxn.Events.
	Events(startRev int64, key, rangeEnd []byte, limit int) ([]mvccpb.Event, int64, error)
	Range(r *pb.RangeRequest) (*pb.RangeResponse, error)
	Close()
}

// Config configures a Hub.
type Config struct {
	// Store is read when watchers are behind. Required.
	Store Store
	// Rev is the store's committed revision when the hub starts: every
	// event up to it is in Store, every later one comes through Notify.
	Rev int64
	// Header returns a response header (cluster, member, term) for a
	// revision. Required.
	Header func(rev int64) *pb.ResponseHeader
	// Logger; nil means none.
	Logger *zap.Logger
	// StreamBudget is how many bytes of responses a stream may hold unsent
	// before its watchers leave the hot path and wait, caught up later from
	// storage. Zero means 2 MiB.
	StreamBudget int
	// InboxEvents and InboxBytes bound the events from Notify that wait
	// for the hub goroutine; beyond either the hub drops them and serves
	// every watcher from storage until it is caught up. Zero means 65536
	// events, 64 MiB.
	InboxEvents int
	InboxBytes  int
	// RingBytes bounds the recent events the hub keeps to bring watchers
	// that are slightly behind up to date without reading storage. Zero
	// means 8 MiB; negative disables the ring.
	RingBytes int
	// ReadLimit is the number of events catch-up reads from storage at a
	// time (whole revisions: it may read more). Zero means 1000.
	ReadLimit int
	// MaxResponseBytes is the size at which catch-up and ring replay
	// start a new response (at a revision boundary). Zero means 1 MiB.
	MaxResponseBytes int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.StreamBudget <= 0 {
		c.StreamBudget = 2 << 20
	}
	if c.InboxEvents <= 0 {
		c.InboxEvents = 65536
	}
	if c.InboxBytes <= 0 {
		c.InboxBytes = 64 << 20
	}
	if c.RingBytes == 0 {
		c.RingBytes = 8 << 20
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 1000
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 1 << 20
	}
}

// Hub fans committed events out to watchers. See the package doc.
type Hub struct {
	cfg Config
	lg  *zap.Logger

	in   inbox
	reqc chan request
	back handoff // watchers catch-up brought up to date
	cu   *catchUp

	stopc chan struct{}
	wg    sync.WaitGroup

	notified int64 // owned by Notify's caller: the last revision notified

	// Owned by the hub goroutine.
	rev     int64 // every event <= rev is queued for every synced watcher
	synced  index
	ring    ring
	touched []*watcher
}

type reqKind uint8

const (
	reqCreate reqKind = iota
	reqCancel
	reqProgress
	reqTick
	reqClose
	reqFunc // tests: run fn on the hub goroutine
)

type request struct {
	kind   reqKind
	s      *Stream
	create *pb.WatchCreateRequest
	deny   string // reqCreate refused before it reached the hub (auth)
	id     int64
	fn     func()
}

// New starts a hub. Stop ends it.
func New(cfg Config) *Hub {
	cfg.setDefaults()
	h := &Hub{
		cfg:   cfg,
		lg:    cfg.Logger,
		reqc:  make(chan request, 1024),
		stopc: make(chan struct{}),
		rev:   cfg.Rev,

		notified: cfg.Rev,
	}
	h.in.init(cfg.InboxEvents, cfg.InboxBytes)
	h.back.init()
	h.synced.init()
	h.ring.init(cfg.RingBytes, cfg.Rev)
	h.cu = newCatchUp(h)
	h.wg.Add(2)
	go h.run()
	go h.cu.run()
	return h
}

// Stop ends the hub's goroutines and waits for them. Streams stop
// receiving responses; their Request returns ErrStopped.
func (h *Hub) Stop() {
	select {
	case <-h.stopc:
	default:
		close(h.stopc)
	}
	h.wg.Wait()
}

// Notify hands the hub the events of one committed batch, in revision
// order, and the store's revision after it. evs (with PrevKv set for keys
// that existed) now belong to the hub. Notify never blocks on watchers;
// it is called by the apply goroutine only, in commit order.
//
// A revision that moves without events (the state was replaced by a raft
// snapshot) is a gap: every synced watcher is then served from storage
// from where it was, as etcd does on restore.
func (h *Hub) Notify(evs []mvccpb.Event, rev int64) {
	if len(evs) == 0 {
		if rev > h.notified {
			h.notified = rev
			h.in.gap(rev)
		}
		return
	}
	if first := evs[0].Kv.ModRevision; first > h.notified+1 {
		h.in.gap(first - 1) // revisions without events before these
	}
	h.notified = rev
	h.in.add(evs, rev)
}

// NewStream returns a stream with no watchers.
func (h *Hub) NewStream() *Stream {
	return &Stream{
		h:        h,
		watchers: make(map[int64]*watcher),
		readyc:   make(chan struct{}, 1),
		spacec:   make(chan struct{}, 1),
		donec:    make(chan struct{}),
	}
}

func (h *Hub) run() {
	defer h.wg.Done()
	for {
		select {
		case <-h.in.poke:
			h.drainInbox()
		case r := <-h.reqc:
			h.handle(r)
		case <-h.back.poke:
			for _, w := range h.back.take() {
				h.resume(w)
			}
		case <-h.stopc:
			return
		}
	}
}

func (h *Hub) drainInbox() {
	bs, overflow, overRev := h.in.take()
	for i := range bs {
		h.dispatch(&bs[i])
	}
	if !overflow {
		return
	}
	// Batches were dropped, or the state jumped: everything synced now
	// learns what it missed from storage. The ring no longer reaches back
	// without a gap.
	h.lg.Info("watch hub missed revisions; serving watchers from storage",
		zap.Int64("from-revision", h.rev+1), zap.Int64("to-revision", overRev), zap.Int("watchers", h.synced.n))
	var moved []*watcher
	h.synced.each(func(w *watcher) { moved = append(moved, w) })
	for _, w := range moved {
		h.unsync(w, h.rev+1)
	}
	h.rev = overRev
	h.ring.reset(overRev)
}

// dispatch queues a batch's events for the synced watchers they concern.
func (h *Hub) dispatch(b *batch) {
	b.prepare()
	touched := h.touched[:0]
	for i := range b.evs {
		ev := &b.evs[i]
		put := ev.Type == mvccpb.PUT
		h.synced.match(ev.Kv.Key, func(w *watcher) {
			if (put && w.noPut) || (!put && w.noDelete) {
				return
			}
			if len(w.picked) == 0 {
				touched = append(touched, w)
			}
			w.picked = append(w.picked, int32(i))
		})
	}
	var hdr *pb.ResponseHeader
	for _, w := range touched {
		evs, size := b.eventsFor(w, w.picked)
		w.picked = w.picked[:0]
		if len(evs) == 0 {
			continue
		}
		if hdr == nil {
			hdr = h.cfg.Header(b.rev)
		}
		switch w.s.pushEvents(w, hdr, evs, size) {
		case pushed:
			w.nextRev = b.rev + 1
		case pushFull:
			h.unsync(w, b.first)
		}
	}
	clear(touched)
	h.touched = touched[:0]
	h.rev = b.rev
	h.ring.add(b)
}

// unsync moves a synced watcher to catch-up, from revision from at least.
func (h *Hub) unsync(w *watcher, from int64) {
	h.synced.remove(w)
	w.state = stateUnsynced
	w.nextRev = max(w.nextRev, from)
	h.cu.add(w)
}

// resume takes back a watcher from catch-up.
func (h *Hub) resume(w *watcher) {
	if w.state != stateUnsynced {
		return
	}
	h.place(w)
}

// place makes a watcher that is not in the index synced if it can be:
// directly when it is ahead of the hub, through the ring when the ring
// holds what it misses; otherwise catch-up gets it.
func (h *Hub) place(w *watcher) {
	switch {
	case w.nextRev > h.rev:
	case h.ring.covers(w.nextRev) && h.replay(w):
	default:
		w.state = stateUnsynced
		h.cu.add(w)
		return
	}
	w.state = stateSynced
	h.synced.add(w)
}

func (h *Hub) handle(r request) {
	if r.kind == reqFunc {
		r.fn()
		return
	}
	s := r.s
	if s.watchers == nil && r.kind != reqClose {
		// The stream is closed: nothing to answer.
		if r.kind != reqTick {
			s.releaseCtrl()
		}
		return
	}
	switch r.kind {
	case reqCreate:
		if r.deny != "" {
			s.pushCtrl(&pb.WatchResponse{Header: h.cfg.Header(h.rev), WatchId: invalidID, Created: true, Canceled: true, CancelReason: r.deny}, nil, false)
			return
		}
		h.create(s, r.create)
	case reqCancel:
		h.cancel(s, r.id)
	case reqProgress:
		h.progressAll(s)
	case reqTick:
		h.tick(s)
	case reqClose:
		for _, w := range s.watchers {
			if w.state == stateSynced {
				h.synced.remove(w)
			}
			w.state = stateGone
		}
		s.watchers = nil
	}
}

func (h *Hub) create(s *Stream, c *pb.WatchCreateRequest) {
	fail := func(reason string) {
		s.pushCtrl(&pb.WatchResponse{Header: h.cfg.Header(h.rev), WatchId: invalidID, Created: true, Canceled: true, CancelReason: reason}, nil, false)
	}
	if c.StartRevision < 0 {
		fail(reasonCompacted)
		return
	}
	b, ok := makeBounds(c.Key, c.RangeEnd)
	if !ok {
		fail(reasonEmpty)
		return
	}
	id := c.WatchId
	if id == 0 { // clientv3.AutoWatchID: the server picks, per stream, from 0
		for s.watchers[s.nextID] != nil {
			s.nextID++
		}
		id = s.nextID
		s.nextID++
	} else if s.watchers[id] != nil {
		fail(reasonDuplicate)
		return
	}
	w := &watcher{id: id, s: s, b: b, prevKV: c.PrevKv, fragment: c.Fragment, prog: c.ProgressNotify}
	for _, f := range c.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			w.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			w.noDelete = true
		}
	}
	w.quiet.Store(true)
	s.watchers[id] = w
	// The created response goes first: nothing can queue events for w yet.
	s.pushCtrl(&pb.WatchResponse{Header: h.cfg.Header(h.rev), WatchId: id, Created: true}, nil, false)
	start := c.StartRevision
	switch {
	case start == 0:
		w.nextRev = h.rev + 1
		w.state = stateSynced
		h.synced.add(w)
	case start < h.cfg.Store.CompactRev():
		// Catch-up answers with the compaction, as etcd's sync does.
		w.nextRev = start
		w.state = stateUnsynced
		h.cu.add(w)
	case start > h.rev:
		w.nextRev = start
		w.state = stateSynced
		h.synced.add(w)
	default:
		w.nextRev = start
		h.place(w)
	}
}

func (h *Hub) cancel(s *Stream, id int64) {
	w := s.watchers[id]
	if w == nil {
		// etcd answers nothing for an unknown id.
		s.releaseCtrl()
		return
	}
	delete(s.watchers, id)
	if w.state == stateSynced {
		h.synced.remove(w)
	}
	w.state = stateGone
	s.pushCtrl(&pb.WatchResponse{Header: h.cfg.Header(h.rev), WatchId: id, Canceled: true}, w, true)
}

// progressAll answers a progress request: one response with watch id -1
// at the hub's revision, only if every watcher of the stream is synced
// (and it has any), as etcd 3.6 does.
func (h *Hub) progressAll(s *Stream) {
	if len(s.watchers) == 0 {
		s.releaseCtrl()
		return
	}
	for _, w := range s.watchers {
		if w.state != stateSynced {
			s.releaseCtrl()
			return
		}
	}
	s.pushCtrl(&pb.WatchResponse{Header: h.cfg.Header(h.rev), WatchId: invalidID}, nil, false)
}

// tick sends a progress notification to each progress_notify watcher of s
// that is synced and had no events since the previous tick.
func (h *Hub) tick(s *Stream) {
	var hdr *pb.ResponseHeader
	for _, w := range s.watchers {
		if !w.prog {
			continue
		}
		if w.quiet.Swap(true) && w.state == stateSynced {
			if hdr == nil {
				hdr = h.cfg.Header(h.rev)
			}
			s.pushOther(w, &pb.WatchResponse{Header: hdr, WatchId: w.id}, false)
		}
	}
}

// replay queues for w what it misses from the ring (w.nextRev is covered)
// and reports whether w is now up to date with the hub. If its stream
// fills up, w.nextRev is where it stopped.
func (h *Hub) replay(w *watcher) bool {
	var (
		out  []*mvccpb.Event
		size int
	)
	flush := func(upTo int64) pushResult {
		if len(out) == 0 {
			return pushed
		}
		res := w.s.pushEvents(w, h.cfg.Header(upTo), out, size)
		if res == pushed {
			w.nextRev = upTo + 1
		}
		out, size = nil, 0
		return res
	}
	for _, b := range h.ring.from(w.nextRev) {
		if size >= h.cfg.MaxResponseBytes {
			if flush(b.first-1) != pushed {
				return false
			}
		}
		for i := range b.evs {
			ev := &b.evs[i]
			if ev.Kv.ModRevision < w.nextRev || !w.match(ev.Kv.Key, ev.Type == mvccpb.PUT) {
				continue
			}
			e, n := b.event(i, w.prevKV)
			out = append(out, e)
			size += n
		}
	}
	if flush(h.rev) != pushed {
		return false
	}
	w.nextRev = max(w.nextRev, h.rev+1)
	return true
}
