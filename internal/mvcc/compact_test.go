package mvcc

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestCompactErrors(t *testing.T) {
	e := newEnv(t)
	// etcd allows compacting a new store at 0 and 1.
	if err := e.compact(0, true); err != nil {
		t.Fatal(err)
	}
	if err := e.compact(0, false); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compact 0 twice: %v", err)
	}
	if err := e.compact(2, false); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("compact future: %v", err)
	}
	e.put("a", "1") // 2
	e.put("a", "2") // 3
	var resp *pb.CompactionResponse
	_, err := e.apply(func(w *WriteTxn) (err error) {
		resp, _, err = w.Compact(3)
		return err
	})
	if err != nil || !reflect.DeepEqual(resp, &pb.CompactionResponse{Header: hdr(3)}) {
		t.Fatalf("compact: %v %v", resp, err)
	}
	if e.s.Rev() != 3 || e.s.CompactRev() != 3 {
		t.Fatalf("rev %d compact %d", e.s.Rev(), e.s.CompactRev())
	}
	if err := e.compact(3, false); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compact same: %v", err)
	}
	if err := e.compact(2, false); !errors.Is(err, ErrCompacted) {
		t.Fatalf("compact lower: %v", err)
	}
	e.reopen()
	if e.s.CompactRev() != 3 {
		t.Fatalf("compact rev after reopen %d", e.s.CompactRev())
	}
	if _, err := e.rng(&pb.RangeRequest{Key: []byte("a"), Revision: 2}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("read below compaction after reopen: %v", err)
	}
}

// versionsOf lists the revisions stored for key in "k".
func (e *testEnv) versionsOf(key string) []string {
	var out []string
	p := string(versionPrefix([]byte(key)))
	for _, k := range e.rawKeys(prefixVersion) {
		if len(k) == len(p)+revLen && k[:len(p)] == p {
			r := decodeInvRev([]byte(k[len(p):]))
			val, _ := get(e.db, []byte(k))
			if isTombstoneValue(val) {
				out = append(out, fmt.Sprintf("%d:del", r))
			} else {
				out = append(out, fmt.Sprint(r))
			}
		}
	}
	return out
}

func TestPhysicalCompaction(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1") // 2
	e.put("a", "2") // 3
	e.put("b", "1") // 4
	e.del("b", "")  // 5
	e.put("c", "1") // 6
	e.put("a", "3") // 7
	e.del("c", "")  // 8
	e.put("d", "1") // 9
	for i := 0; i < 40; i++ {
		e.put("many", fmt.Sprint(i)) // 10..49
	}
	if err := e.compact(8, true); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]string{
		"a":    {"7"}, // 2, 3 gone; 7 is the newest <= 8
		"b":    nil,   // tombstone at 5 was the newest: all gone
		"c":    nil,   // tombstone at 8 (== compaction rev) gone too
		"d":    {"9"}, // untouched
		"many": nil,   // filled below
	} {
		if key == "many" {
			continue
		}
		if got := e.versionsOf(key); !slices.Equal(got, want) {
			t.Errorf("%s versions %v, want %v", key, got, want)
		}
	}
	if got := len(e.versionsOf("many")); got != 40 {
		t.Errorf("many: %d versions, want 40", got)
	}
	// Events below 8 are gone, 8 and later stay.
	h := e.rawKeys(prefixHistory)
	if first, _, _ := decodeHistoryKey([]byte(h[0])); first != 8 || len(h) != 42 {
		t.Fatalf("history starts at %d, %d entries", first, len(h))
	}
	// Reads at the compaction revision still see everything.
	got, err := e.rng(&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("\x00"), Revision: 8})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keysOf(got.Kvs), []string{"a"}) {
		t.Fatalf("at 8: %q", keysOf(got.Kvs))
	}
	r := e.s.Read()
	evs, _, err := r.Events(8, []byte("c"), nil, 0)
	r.Close()
	if err != nil || len(evs) != 1 || evs[0].Type != mvccpb.DELETE {
		t.Fatalf("delete event at the compaction revision: %v %v", evs, err)
	}
	// Many versions of one key go with one range deletion.
	if err := e.compact(45, true); err != nil {
		t.Fatal(err)
	}
	if got := e.versionsOf("many"); !slices.Equal(got, []string{"49", "48", "47", "46", "45"}) {
		t.Fatalf("many after compaction: %v", got)
	}
	got, _ = e.rng(&pb.RangeRequest{Key: []byte("many"), Revision: 45})
	if !reflect.DeepEqual(got.Kvs, []*mvccpb.KeyValue{kv("many", 10, 45, 36, "35", 0)}) {
		t.Fatalf("many at 45: %v", got.Kvs)
	}
}

func (e *testEnv) hash(t *testing.T, rev int64) uint32 {
	t.Helper()
	r := e.s.Read()
	defer r.Close()
	h, hr, _, err := r.HashKV(rev)
	if err != nil {
		t.Fatal(err)
	}
	if rev != 0 && hr != rev {
		t.Fatalf("hash rev %d, want %d", hr, rev)
	}
	return h
}

func TestCompactionResumesAfterRestart(t *testing.T) {
	e := newEnv(t)
	e.cfg.CompactionBatchLimit = 2
	e.reopen()
	for i := 0; i < 20; i++ {
		e.put(fmt.Sprintf("k%02d", i), "1")
		e.put(fmt.Sprintf("k%02d", i), "2")
	}
	target := e.s.Rev()

	// Stop the compactor after its first batch.
	block, release := make(chan struct{}), make(chan struct{})
	first := true
	e.s.c.afterBatch = func() {
		if first {
			first = false
			close(block)
			<-release
		}
	}
	if err := e.compact(target, false); err != nil {
		t.Fatal(err)
	}
	<-block
	hash := e.hash(t, target) // mid-pass
	closed := make(chan struct{})
	go func() { e.s.Close(); close(closed) }()
	for !e.s.c.stopping() {
		time.Sleep(time.Millisecond)
	}
	close(release)
	<-closed
	if f := e.s.FinishedCompactRev(); f != -1 {
		t.Fatalf("finished %d before restart", f)
	}
	m, err := loadMeta(e.db)
	if err != nil || m.cursor.main <= 2 {
		t.Fatalf("cursor after one batch: %+v %v", m.cursor, err)
	}
	e.s = nil
	batches := 0
	e.reopenHook(func() { batches++ })
	deadline := time.Now().Add(10 * time.Second)
	for e.s.FinishedCompactRev() != target {
		if time.Now().After(deadline) {
			t.Fatal("compaction did not resume")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// 20 keys, 2 per batch: the first batch was not redone.
	if batches >= 20/2+1 {
		t.Fatalf("%d batches after restart: the pass restarted from scratch", batches)
	}
	for i := 0; i < 20; i++ {
		if v := e.versionsOf(fmt.Sprintf("k%02d", i)); len(v) != 1 {
			t.Fatalf("k%02d versions %v", i, v)
		}
	}
	if got := e.hash(t, target); got != hash {
		t.Fatalf("hash changed")
	}
}

// reopenHook reopens the store with an afterBatch hook installed before the
// compactor starts.
func (e *testEnv) reopenHook(hook func()) {
	e.t.Helper()
	if e.s != nil {
		e.s.Close()
		e.s = nil
	}
	m, err := loadMeta(e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	s := &Store{db: e.db, lg: zapNop(), lessor: e.cfg.Lessor}
	s.rev.Store(m.rev)
	s.compactRev.Store(m.compactRev)
	s.w.rev, s.w.compactRev = m.rev, m.compactRev
	s.publish(m.rev, m.compactRev)
	limit := e.cfg.CompactionBatchLimit
	s.c = newCompactor(e.db, s.lg, limit, m)
	s.c.afterBatch = hook
	s.c.start()
	e.s = s
}

func TestHashKV(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	for i, e := range []*testEnv{a, b} {
		e.put("x", "1")
		e.put("y", "1")
		e.del("x", "")
		e.put("y", "2")
		if i == 0 {
			if err := e.compact(3, true); err != nil { // physically compacted
				t.Fatal(err)
			}
		} else {
			e.s.c.close() // never compacts physically
			if err := e.compact(3, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for rev := int64(3); rev <= 5; rev++ {
		if ha, hb := a.hash(t, rev), b.hash(t, rev); ha != hb {
			t.Fatalf("rev %d: hashes differ %x %x", rev, ha, hb)
		}
	}
	if a.hash(t, 4) == a.hash(t, 5) {
		t.Fatal("hash ignores a revision")
	}
	r := a.s.Read()
	defer r.Close()
	if _, _, _, err := r.HashKV(2); !errors.Is(err, ErrCompacted) {
		t.Fatal(err)
	}
	if _, _, _, err := r.HashKV(6); !errors.Is(err, ErrFutureRev) {
		t.Fatal(err)
	}
	if _, hr, cr, _ := r.HashKV(0); hr != 5 || cr != 3 {
		t.Fatalf("hashRev %d compactRev %d", hr, cr)
	}
}
