package robustness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// watchResp is one watch response as a watcher received it.
type watchResp struct {
	at        int64 // receive time, ns since the run started
	seg       int   // the stream (segment) it came on
	member    uint64
	headerRev int64
	watchID   int64
	created   bool
	canceled  bool
	compact   int64
	reason    string
	fragment  bool
	events    []Event
}

func (r watchResp) progress() bool {
	return len(r.events) == 0 && !r.created && !r.canceled && r.compact == 0 && r.headerRev != 0
}

// segment is one watch stream of a watcher: a watcher resumes on a new
// stream, possibly on another member, after its stream breaks or after it
// chose to move.
type segment struct {
	member   string
	start    int64 // requested start revision (0: from now)
	openedAt int64
	endedAt  int64
	endErr   string
}

// watcher watches a key range from a start revision until the round ends,
// resuming after every break from the revision after the last one it
// knows to be complete (the last event's, or the last progress
// notification's).
type watcher struct {
	id     int
	key    string
	end    string
	prevKV bool
	start  int64 // start revision of the first stream; 0 means "from now"

	mu struct {
		sync.Mutex
		effStart int64 // first revision the watcher must deliver; 0 until known
		resps    []watchResp
		segs     []segment
		lastRev  int64 // revision of the last event
		progRev  int64 // revision of the last progress notification
		problems []string
	}
}

func (w *watcher) String() string {
	rng := w.key
	if w.end != "" {
		rng = fmt.Sprintf("[%s, %s)", w.key, w.end)
	}
	return fmt.Sprintf("watcher %d on %s from revision %d (prev_kv %v)", w.id, rng, w.start, w.prevKV)
}

// reached is the revision up to which the watcher has everything.
func (w *watcher) reached() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(w.mu.lastRev, w.mu.progRev)
}

func (w *watcher) nextRev() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.effStart == 0 {
		return w.start
	}
	return max(w.mu.lastRev, w.mu.progRev, w.mu.effStart-1) + 1
}

// watchers is every watcher of a round.
type watchers struct {
	members *memberSet
	start   time.Time
	seed    uint64
	round   int
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu struct {
		sync.Mutex
		all []*watcher
	}
}

func newWatchers(members *memberSet, start time.Time, seed uint64, round int) *watchers {
	ws := &watchers{members: members, start: start, seed: seed, round: round}
	ws.ctx, ws.cancel = context.WithCancel(context.Background())
	return ws
}

func (ws *watchers) now() int64 { return int64(time.Since(ws.start)) }

// add starts a watcher.
func (ws *watchers) add(key, end string, start int64, prevKV bool) *watcher {
	ws.mu.Lock()
	w := &watcher{id: len(ws.mu.all), key: key, end: end, start: start, prevKV: prevKV}
	if start != 0 {
		w.mu.effStart = start
	}
	ws.mu.all = append(ws.mu.all, w)
	ws.mu.Unlock()
	ws.wg.Add(1)
	go func() {
		defer ws.wg.Done()
		ws.run(w)
	}()
	return w
}

func (ws *watchers) list() []*watcher {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return append([]*watcher(nil), ws.mu.all...)
}

// waitReached waits until every watcher has everything up to rev.
func (ws *watchers) waitReached(rev int64, d time.Duration) error {
	deadline := time.Now().Add(d)
	for attempt := 0; ; attempt++ {
		var behind []string
		for _, w := range ws.list() {
			if r := w.reached(); r < rev {
				behind = append(behind, fmt.Sprintf("%v at %d", w, r))
			}
		}
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) || attempt > 100000 {
			return fmt.Errorf("watchers did not reach revision %d within %v: %v", rev, d, behind)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends every watcher and waits for them.
func (ws *watchers) stop() {
	ws.cancel()
	ws.wg.Wait()
}

// run keeps w watching until the round's context ends.
func (ws *watchers) run(w *watcher) {
	rng := rand.New(rand.NewPCG(ws.seed, uint64(ws.round)<<32|uint64(w.id)<<8|0xee))
	var m *member
	for seg := 0; seg < 100000 && ws.ctx.Err() == nil; seg++ {
		m = ws.members.pick(rng, m)
		if m == nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		// A watcher moves to another member now and then of its own
		// accord, so resuming is exercised without faults too.
		life := time.Duration(3000+rng.IntN(12000)) * time.Millisecond
		ws.segment(w, seg, m, life)
		select {
		case <-ws.ctx.Done():
		case <-time.After(time.Duration(50+rng.IntN(300)) * time.Millisecond):
		}
	}
}

// segment runs one stream of w on m for at most life.
func (ws *watchers) segment(w *watcher, seg int, m *member, life time.Duration) {
	ctx, cancel := context.WithTimeout(ws.ctx, life)
	defer cancel()
	start := w.nextRev()
	w.mu.Lock()
	w.mu.segs = append(w.mu.segs, segment{member: m.name, start: start, openedAt: ws.now()})
	w.mu.Unlock()
	endSeg := func(err error) {
		w.mu.Lock()
		s := &w.mu.segs[len(w.mu.segs)-1]
		s.endedAt = ws.now()
		if err != nil {
			s.endErr = err.Error()
		}
		w.mu.Unlock()
	}
	stream, err := m.watch.Watch(ctx)
	if err != nil {
		endSeg(err)
		return
	}
	create := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte(w.key), RangeEnd: []byte(w.end), StartRevision: start, ProgressNotify: true, PrevKv: w.prevKV,
	}}}
	if err := stream.Send(create); err != nil {
		endSeg(err)
		return
	}
	// The sender asks for progress now and then; it is the only goroutine
	// that sends on the stream after the create request.
	var sender sync.WaitGroup
	sender.Add(1)
	go func() {
		defer sender.Done()
		for i := 0; i < 100000; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(500+i%7*100) * time.Millisecond):
			}
			if stream.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_ProgressRequest{ProgressRequest: &pb.WatchProgressRequest{}}}) != nil {
				return
			}
		}
	}()
	defer sender.Wait()
	defer cancel()
	for n := 0; n < 10_000_000; n++ {
		resp, err := stream.Recv()
		if err != nil {
			endSeg(err)
			return
		}
		r := watchResp{
			at: ws.now(), seg: seg, headerRev: resp.Header.GetRevision(), member: resp.Header.GetMemberId(),
			watchID: resp.WatchId, created: resp.Created, canceled: resp.Canceled, compact: resp.CompactRevision,
			reason: resp.CancelReason, fragment: resp.Fragment,
		}
		for _, ev := range resp.Events {
			r.events = append(r.events, eventFromPB(ev))
		}
		w.mu.Lock()
		w.mu.resps = append(w.mu.resps, r)
		if r.created && w.mu.effStart == 0 && start == 0 {
			w.mu.effStart = r.headerRev + 1
		}
		if len(r.events) > 0 {
			w.mu.lastRev = max(w.mu.lastRev, r.events[len(r.events)-1].Rev)
		}
		if r.progress() {
			w.mu.progRev = max(w.mu.progRev, r.headerRev)
		}
		w.mu.Unlock()
		if r.canceled {
			endSeg(fmt.Errorf("canceled by the server: %q (compact revision %d)", r.reason, r.compact))
			return
		}
	}
}
