package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watch: Config.Watchers watchers, all on one key or all on one prefix
// (Config.WatchPrefix), and Config.Writers writers putting under it, each
// with one put in flight (paced by --rate when set). Every put produces one event on every
// watcher; a "request" of this workload is one event delivered to one
// watcher, so the result's throughput is events per second over all
// watchers and its latencies are delivery latencies: from the moment the
// put was sent to the moment the watcher received the event.
//
// The put's value carries its send time (the first stampLen bytes, in hex
// nanoseconds since the run's base time), so a watcher needs no shared
// table to time an event, and the measure works the same against any
// server. Values are therefore at least stampLen bytes long.
//
// When the writer stops (--total puts or --duration), the run waits until
// every watcher has seen the revision of the last acknowledged put, or for
// at most --request-timeout; events still missing then count as errors. The
// timed run ends there, before the watches are cancelled.

// watchKeyPrefix is put in front of the key-space keys the watch workload
// writes, so its watchers see only its own writes.
const watchKeyPrefix = "w/"

// stampLen is the length of the send-time stamp at the start of a value.
const stampLen = 16

// errEventsMissing is recorded for events not delivered in time.
var errEventsMissing = errors.New("watch: event not delivered within --request-timeout of the last put")

// errWatchClosed is recorded when a watch ends before the run does.
var errWatchClosed = errors.New("watch: cancelled before the end of the run")

// stamp writes d (non-negative) into b[:stampLen] as fixed-width hex.
func stamp(b []byte, d time.Duration) {
	const hex = "0123456789abcdef"
	u := uint64(max(d, 0))
	for i := stampLen - 1; i >= 0; i-- {
		b[i] = hex[u&0xf]
		u >>= 4
	}
}

// parseStamp reads the stamp at the start of a value; ok is false for a
// value the workload did not write.
func parseStamp(v []byte) (d time.Duration, ok bool) {
	if len(v) < stampLen {
		return 0, false
	}
	var u uint64
	for _, c := range v[:stampLen] {
		switch {
		case '0' <= c && c <= '9':
			u = u<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			u = u<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	if u > 1<<62 {
		return 0, false
	}
	return time.Duration(u), true
}

// watchKey is the key of index i for the watch workload.
func watchKey(k *Keys, i int) string { return watchKeyPrefix + k.Key(i) }

// watchStream is one connection's gRPC Watch stream and its watchers.
type watchStream struct {
	stream pb.Watch_WatchClient
	ids    map[int64]int // watch ID -> watcher index; read-only once created
}

type watchWorkload struct {
	cancel  context.CancelFunc // ends the watches
	wctx    context.Context
	streams []*watchStream
}

func (*watchWorkload) Name() string                       { return "watch" }
func (*watchWorkload) NewWorker(int, *Env, *Meter) Worker { return nil }

// Prepare creates the watchers, untimed, on one gRPC Watch stream per
// connection (watcher i on connection i % Conns), as clientv3 would, but
// through the raw stream: clientv3's Watch hands every event through two
// goroutines per watcher, and on a machine the generator shares with the
// server that would cap events per second before the server does. Create
// requests are pipelined; a watcher is created once its Created response
// is back, so every watcher sees the first put.
func (w *watchWorkload) Prepare(ctx context.Context, env *Env) error {
	cfg := env.Config
	w.wctx, w.cancel = context.WithCancel(ctx)
	create := &pb.WatchCreateRequest{Key: []byte(watchKey(env.Keys, 0))}
	if cfg.WatchPrefix {
		create.Key = []byte(watchKeyPrefix)
		create.RangeEnd = []byte(clientv3.GetPrefixRangeEnd(watchKeyPrefix))
	}
	req := &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: create}}
	w.streams = make([]*watchStream, min(len(env.Conns), cfg.Watchers))
	errs := make([]error, len(w.streams))
	var wg sync.WaitGroup
	for c := range w.streams {
		wg.Go(func() {
			var idx []int // the watchers of this stream
			for i := c; i < cfg.Watchers; i += len(env.Conns) {
				idx = append(idx, i)
			}
			w.streams[c], errs[c] = createWatchers(w.wctx, pb.NewWatchClient(env.Conns[c].ActiveConnection()), req, idx)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	limit := cfg.RequestTimeout * 6
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.cancel()
		<-done
		return fmt.Errorf("creating %d watchers took over %s", cfg.Watchers, limit)
	}
	if err := errors.Join(errs...); err != nil {
		w.cancel()
		return err
	}
	return nil
}

// createWatchers opens a Watch stream and creates one watcher on it for
// each index in idx.
func createWatchers(ctx context.Context, wc pb.WatchClient, req *pb.WatchRequest, idx []int) (*watchStream, error) {
	st, err := wc.Watch(ctx)
	if err != nil {
		return nil, fmt.Errorf("open watch stream: %w", err)
	}
	ws := &watchStream{stream: st, ids: make(map[int64]int, len(idx))}
	sendErr := make(chan error, 1)
	go func() {
		for range idx {
			if err := st.Send(req); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	for len(ws.ids) < len(idx) {
		resp, err := st.Recv()
		if err != nil {
			return nil, fmt.Errorf("create watchers: %w", err)
		}
		switch {
		case resp.Canceled:
			return nil, fmt.Errorf("watch create refused: %s", resp.CancelReason)
		case resp.Created:
			ws.ids[resp.WatchId] = idx[len(ws.ids)]
		}
		// Events before every watcher is created come from another
		// writer: not this run's.
	}
	if err := <-sendErr; err != nil {
		return nil, fmt.Errorf("create watchers: %w", err)
	}
	return ws, nil
}

func (w *watchWorkload) Drive(ctx context.Context, env *Env, m *Meter) error {
	defer w.cancel()
	cfg := env.Config
	base := time.Now()
	seen := make([]atomic.Int64, cfg.Watchers)     // per watcher: mod revision of its last event
	received := make([]atomic.Int64, cfg.Watchers) // per watcher: events received
	foreign := m.Counter("events_foreign")

	var readers sync.WaitGroup
	for _, ws := range w.streams {
		rec := m.Recorder()
		readers.Go(func() {
			for {
				resp, err := ws.stream.Recv()
				if err != nil {
					if w.wctx.Err() == nil {
						m.Fail(fmt.Errorf("watch stream: %w", err))
					}
					return
				}
				i, ok := ws.ids[resp.WatchId]
				switch {
				case !ok:
					continue
				case resp.Canceled:
					if w.wctx.Err() == nil {
						m.Fail(fmt.Errorf("%w: %s", errWatchClosed, resp.CancelReason))
					}
					continue
				case len(resp.Events) == 0:
					continue // a progress notification
				}
				now := time.Since(base)
				for _, ev := range resp.Events {
					if sent, ok := parseStamp(ev.Kv.Value); ok {
						m.Done(rec, now-sent)
					} else {
						foreign.Add(1)
					}
				}
				received[i].Add(int64(len(resp.Events)))
				seen[i].Store(resp.Events[len(resp.Events)-1].Kv.ModRevision)
			}
		})
	}

	// The writers: cfg.Writers of them, each with one put in flight, writer
	// j on connection j % conns.
	var puts, lastRev atomic.Int64
	var writers sync.WaitGroup
	for j := 0; j < cfg.Writers; j++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			kv := env.Conn(j)
			rng := env.Rand(j)
			val := []byte(env.Value)
			if len(val) < stampLen {
				val = append(val, make([]byte, stampLen-len(val))...)
			}
			key := watchKey(env.Keys, 0)
			for {
				seq, ok := m.Take(ctx)
				if !ok {
					return
				}
				if cfg.WatchPrefix {
					key = watchKey(env.Keys, env.Keys.Index(seq, rng))
				}
				stamp(val, time.Since(base))
				rctx, cancel := context.WithTimeout(ctx, cfg.RequestTimeout)
				resp, err := kv.Put(rctx, key, string(val))
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					m.Fail(fmt.Errorf("put: %w", err))
					continue
				}
				puts.Add(1)
				for {
					cur := lastRev.Load()
					if resp.Header.Revision <= cur || lastRev.CompareAndSwap(cur, resp.Header.Revision) {
						break
					}
				}
			}
		}()
	}
	writers.Wait()
	m.Counter("puts").Store(puts.Load())

	// Wait for every watcher to catch up with the last acknowledged put.
	deadline := time.Now().Add(cfg.RequestTimeout)
	for puts.Load() > 0 && ctx.Err() == nil && time.Now().Before(deadline) && !caughtUp(seen, lastRev.Load()) {
		time.Sleep(time.Millisecond)
	}
	m.End()
	var missing int64
	for i := range received {
		missing += max(0, puts.Load()-received[i].Load())
	}
	if ctx.Err() == nil {
		m.FailN(errEventsMissing, missing)
	}
	w.cancel()
	readers.Wait()
	return nil
}

// caughtUp reports whether every watcher has seen revision rev.
func caughtUp(seen []atomic.Int64, rev int64) bool {
	for i := range seen {
		if seen[i].Load() < rev {
			return false
		}
	}
	return true
}
