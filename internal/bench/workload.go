package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Workload is one kind of load. The runner calls Prepare once, untimed, then
// NewWorker once per client on the runner goroutine, then each Worker's Do
// from that client's goroutine only.
type Workload interface {
	// Name is the workload's command name ("put", "range", ...).
	Name() string
	// Prepare does the untimed setup: preloading keys, granting leases.
	Prepare(ctx context.Context, env *Env) error
	// NewWorker returns the loop body of client i (0 <= i < Config.Clients).
	// A Driver may return nil.
	NewWorker(i int, env *Env, m *Meter) Worker
}

// Worker issues the requests of one client. It is used by one goroutine.
type Worker interface {
	// Do issues request number seq and returns once it is answered. The
	// runner times the call; an error counts the request as failed.
	Do(ctx context.Context, seq int64) error
}

// Driver is implemented by workloads that run their own goroutines instead of
// the runner's closed loop (watch fan-out: one put, many events). Drive
// returns when the run is over: Meter.Take returned false in every goroutine
// it started, and those goroutines have exited.
type Driver interface {
	Drive(ctx context.Context, env *Env, m *Meter) error
}

// Workloads maps a workload name to its constructor.
var Workloads = map[string]func() Workload{
	"put":     func() Workload { return &putWorkload{} },
	"range":   func() Workload { return &rangeWorkload{} },
	"delete":  func() Workload { return &deleteWorkload{} },
	"txn-cas": func() Workload { return &casWorkload{} },
	"watch":   func() Workload { return &watchWorkload{} },
	// etcd's benchmark calls it lease-keepalive too.
	"lease-keepalive": func() Workload { return &leaseWorkload{} },
}

// WorkloadNames returns the registered names, sorted.
func WorkloadNames() []string {
	names := make([]string, 0, len(Workloads))
	for n := range Workloads {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Env is what a workload gets to work with. It is read-only once the run
// has started.
type Env struct {
	Config *Config
	// Conns has one client (one gRPC connection) per Config.Conns.
	Conns []*clientv3.Client
	Keys  *Keys
	// Value is the printable value of Config.ValSize bytes (the value every
	// write stores unless Config.RandomValues).
	Value string
	// Values gives each write its value (Value, or random ones).
	Values *Values
}

// Conn returns the connection of client i.
func (e *Env) Conn(i int) *clientv3.Client { return e.Conns[i%len(e.Conns)] }

// Rand returns a random source for client i, distinct per client.
func (e *Env) Rand(i int) *rand.Rand {
	return rand.New(rand.NewPCG(rand.Uint64(), uint64(i)))
}

// Preload puts every key of the key space once, using Config.Clients
// concurrent clients. onPut, if not nil, is called with each key index and
// the revision of its put, from several goroutines.
func (e *Env) Preload(ctx context.Context, onPut func(i int, rev int64)) error {
	var next atomic.Int64
	errc := make(chan error, e.Config.Clients)
	n := min(e.Config.Clients, e.Keys.Space())
	for c := 0; c < n; c++ {
		go func() {
			kv := e.Conn(c)
			rng := e.Rand(c)
			for {
				i := int(next.Add(1) - 1)
				if i >= e.Keys.Space() {
					errc <- nil
					return
				}
				rctx, cancel := context.WithTimeout(ctx, e.Config.RequestTimeout)
				resp, err := kv.Put(rctx, e.Keys.Key(i), e.Values.Next(rng))
				cancel()
				if err != nil {
					next.Store(int64(e.Keys.Space())) // stop the others
					errc <- fmt.Errorf("bench: preload key %d: %w", i, err)
					return
				}
				if onPut != nil {
					onPut(i, resp.Header.Revision)
				}
			}
		}()
	}
	var first error
	for c := 0; c < n; c++ {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// preload runs Env.Preload when the config asks for it.
func preload(ctx context.Context, env *Env, onPut func(int, int64)) error {
	if !env.Config.Preload {
		return nil
	}
	return env.Preload(ctx, onPut)
}

// put: Put(key, value), key per --seq-keys over --key-space.

type putWorkload struct{}

func (*putWorkload) Name() string                        { return "put" }
func (*putWorkload) Prepare(context.Context, *Env) error { return nil }
func (*putWorkload) NewWorker(i int, env *Env, _ *Meter) Worker {
	return &putWorker{kv: env.Conn(i), keys: env.Keys, rng: env.Rand(i), vals: env.Values}
}

type putWorker struct {
	kv   clientv3.KV
	keys *Keys
	rng  *rand.Rand
	vals *Values
}

func (w *putWorker) Do(ctx context.Context, seq int64) error {
	_, err := w.kv.Put(ctx, w.keys.Key(w.keys.Index(seq, w.rng)), w.vals.Next(w.rng))
	return err
}

// range: Get(key) of one preloaded key, linearizable or serializable.

type rangeWorkload struct{}

func (*rangeWorkload) Name() string { return "range" }
func (*rangeWorkload) Prepare(ctx context.Context, env *Env) error {
	return preload(ctx, env, nil)
}
func (*rangeWorkload) NewWorker(i int, env *Env, _ *Meter) Worker {
	w := &rangeWorker{kv: env.Conn(i), keys: env.Keys, rng: env.Rand(i)}
	if env.Config.Consistency == Serializable {
		w.opts = []clientv3.OpOption{clientv3.WithSerializable()}
	}
	return w
}

type rangeWorker struct {
	kv   clientv3.KV
	keys *Keys
	rng  *rand.Rand
	opts []clientv3.OpOption
}

func (w *rangeWorker) Do(ctx context.Context, seq int64) error {
	_, err := w.kv.Get(ctx, w.keys.Key(w.keys.Index(seq, w.rng)), w.opts...)
	return err
}

// delete: Delete(key) of a preloaded key. Once a key is gone, deleting it
// again is still a write (a raft entry) that deletes nothing.

type deleteWorkload struct{}

func (*deleteWorkload) Name() string { return "delete" }
func (*deleteWorkload) Prepare(ctx context.Context, env *Env) error {
	return preload(ctx, env, nil)
}
func (*deleteWorkload) NewWorker(i int, env *Env, m *Meter) Worker {
	return &deleteWorker{kv: env.Conn(i), keys: env.Keys, rng: env.Rand(i), deleted: m.Counter("deleted")}
}

type deleteWorker struct {
	kv      clientv3.KV
	keys    *Keys
	rng     *rand.Rand
	deleted *atomic.Int64
}

func (w *deleteWorker) Do(ctx context.Context, seq int64) error {
	resp, err := w.kv.Delete(ctx, w.keys.Key(w.keys.Index(seq, w.rng)))
	if err == nil {
		w.deleted.Add(resp.Deleted)
	}
	return err
}

// txn-cas: compare-and-swap on a key's mod revision,
//
//	Txn(If(mod_revision(key) == known).Then(Put(key, value)).Else(Get(key)))
//
// where known is the last revision any client saw for the key (shared by all
// clients). A failed compare refreshes known from the Else branch; it is a
// successful request, counted in cas_failed.

type casWorkload struct {
	revs []atomic.Int64 // key index -> last known mod revision, 0 = absent
}

func (*casWorkload) Name() string { return "txn-cas" }
func (w *casWorkload) Prepare(ctx context.Context, env *Env) error {
	w.revs = make([]atomic.Int64, env.Keys.Space())
	return preload(ctx, env, func(i int, rev int64) { w.revs[i].Store(rev) })
}
func (w *casWorkload) NewWorker(i int, env *Env, m *Meter) Worker {
	return &casWorker{
		kv: env.Conn(i), keys: env.Keys, rng: env.Rand(i), val: env.Value, revs: w.revs,
		ok: m.Counter("cas_succeeded"), failed: m.Counter("cas_failed"),
	}
}

type casWorker struct {
	kv         clientv3.KV
	keys       *Keys
	rng        *rand.Rand
	val        string
	revs       []atomic.Int64
	ok, failed *atomic.Int64
}

func (w *casWorker) Do(ctx context.Context, seq int64) error {
	i := w.keys.Index(seq, w.rng)
	k := w.keys.Key(i)
	resp, err := w.kv.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k), "=", w.revs[i].Load())).
		Then(clientv3.OpPut(k, w.val)).
		Else(clientv3.OpGet(k)).
		Commit()
	if err != nil {
		return err
	}
	if resp.Succeeded {
		w.ok.Add(1)
		w.revs[i].Store(resp.Header.Revision)
		return nil
	}
	w.failed.Add(1)
	var rev int64
	if len(resp.Responses) > 0 {
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			rev = kvs[0].ModRevision
		}
	}
	w.revs[i].Store(rev)
	return nil
}
