package mvcc

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// fakeLessor knows a fixed set of leases and records attachments.
type fakeLessor struct {
	mu       sync.Mutex
	leases   map[int64]bool
	attached map[int64]map[string]bool
	log      []string
}

func newFakeLessor(ids ...int64) *fakeLessor {
	l := &fakeLessor{leases: map[int64]bool{}, attached: map[int64]map[string]bool{}}
	for _, id := range ids {
		l.leases[id] = true
	}
	return l
}

func (l *fakeLessor) Exists(id int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leases[id]
}

func (l *fakeLessor) Attach(id int64, key []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.attached[id] == nil {
		l.attached[id] = map[string]bool{}
	}
	l.attached[id][string(key)] = true
	l.log = append(l.log, fmt.Sprintf("attach %d %s", id, key))
}

func (l *fakeLessor) Detach(id int64, key []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.attached[id], string(key))
	l.log = append(l.log, fmt.Sprintf("detach %d %s", id, key))
}

func (l *fakeLessor) takeLog() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.log
	l.log = nil
	return out
}

type testEnv struct {
	t      testing.TB
	fs     vfs.FS
	db     *pebble.DB
	s      *Store
	cfg    Config
	lessor *fakeLessor
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	e := &testEnv{t: t, fs: vfs.NewMem(), lessor: newFakeLessor(1, 2, 3)}
	e.cfg = Config{Lessor: e.lessor, Logger: testLogger(t)}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *testEnv) open() {
	e.t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: e.fs, Logger: quietLogger{}, CacheSize: 64 << 20})
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := NewStore(db, e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.db, e.s = db, s
}

func (e *testEnv) close() {
	if e.s != nil {
		e.s.Close()
		e.s = nil
	}
	if e.db != nil {
		if err := e.db.Close(); err != nil {
			e.t.Error(err)
		}
		e.db = nil
	}
}

func (e *testEnv) reopen() {
	e.t.Helper()
	e.close()
	e.open()
}

// apply runs fn in one WriteTxn on its own batch and commits it.
func (e *testEnv) apply(fn func(w *WriteTxn) error) ([]mvccpb.Event, error) {
	e.t.Helper()
	b := e.db.NewIndexedBatch()
	defer b.Close()
	w := e.s.Write(b)
	err := fn(w)
	evs := w.End()
	if err := b.Commit(pebble.Sync); err != nil {
		e.t.Fatal(err)
	}
	e.s.Committed()
	return evs, err
}

func (e *testEnv) put(key, val string) *pb.PutResponse {
	e.t.Helper()
	return e.mustPut(&pb.PutRequest{Key: []byte(key), Value: []byte(val)})
}

func (e *testEnv) mustPut(req *pb.PutRequest) *pb.PutResponse {
	e.t.Helper()
	var resp *pb.PutResponse
	_, err := e.apply(func(w *WriteTxn) (err error) {
		resp, err = w.Put(req)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *testEnv) del(key, end string) *pb.DeleteRangeResponse {
	e.t.Helper()
	var resp *pb.DeleteRangeResponse
	_, err := e.apply(func(w *WriteTxn) (err error) {
		resp, err = w.DeleteRange(&pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: []byte(end)})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *testEnv) rng(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	r := e.s.Read()
	defer r.Close()
	return r.Range(req)
}

func (e *testEnv) compact(rev int64, wait bool) error {
	e.t.Helper()
	var ch <-chan struct{}
	_, err := e.apply(func(w *WriteTxn) (err error) {
		_, ch, err = w.Compact(rev)
		return err
	})
	if err == nil && wait {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			e.t.Fatalf("physical compaction at %d did not finish", rev)
		}
	}
	return err
}

// rawKeys lists the pebble keys under prefix p.
func (e *testEnv) rawKeys(p byte) []string {
	e.t.Helper()
	it, err := e.db.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer it.Close()
	var out []string
	for ok := it.First(); ok; ok = it.Next() {
		out = append(out, string(it.Key()))
	}
	return out
}

func kv(key string, create, mod, ver int64, val string, lease int64) *mvccpb.KeyValue {
	k := &mvccpb.KeyValue{Key: []byte(key), CreateRevision: create, ModRevision: mod, Version: ver, Lease: lease}
	if val != "" {
		k.Value = []byte(val)
	}
	return k
}

func keysOf(kvs []*mvccpb.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

func hdr(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev} }

type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf(format, args...))
}

func zapNop() *zap.Logger { return zap.NewNop() }

func testLogger(t testing.TB) *zap.Logger {
	if testing.Verbose() {
		return zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	return zap.NewNop()
}
