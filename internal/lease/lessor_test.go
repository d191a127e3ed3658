package lease

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// fakeClock is a Clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is one in-memory pebble DB with a Lessor over it.
type env struct {
	t     *testing.T
	fs    vfs.FS
	db    *pebble.DB
	clock *fakeClock
	l     *Lessor
	b     *pebble.Batch
}

func newEnv(t *testing.T, minTTL int64) *env {
	t.Helper()
	e := &env{t: t, fs: vfs.NewMem(), clock: newFakeClock()}
	e.openDB()
	e.l = e.open(minTTL)
	t.Cleanup(func() {
		if e.b != nil {
			e.b.Close()
		}
		if err := e.db.Close(); err != nil {
			t.Errorf("close db: %v", err)
		}
	})
	return e
}

func (e *env) openDB() {
	e.t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: e.fs})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
}

func (e *env) open(minTTL int64) *Lessor {
	e.t.Helper()
	l, err := Open(e.db, Config{MinTTL: minTTL, Clock: e.clock})
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	return l
}

// batch starts an apply batch (an indexed one, as the apply loop uses).
func (e *env) batch() *pebble.Batch {
	e.t.Helper()
	if e.b != nil {
		e.t.Fatal("batch already open")
	}
	e.b = e.db.NewIndexedBatch()
	e.l.SetBatch(e.b)
	return e.b
}

func (e *env) commit() {
	e.t.Helper()
	if err := e.b.Commit(pebble.Sync); err != nil {
		e.t.Fatal(err)
	}
	e.b.Close()
	e.b = nil
	e.l.SetBatch(nil)
}

func (e *env) grant(id, ttl int64) {
	e.t.Helper()
	e.batch()
	if _, err := e.l.Grant(id, ttl); err != nil {
		e.t.Fatalf("Grant(%d, %d): %v", id, ttl, err)
	}
	e.commit()
}

// reopen closes and reopens the DB and the lessor, as a restart does.
func (e *env) reopen(minTTL int64) {
	e.t.Helper()
	if e.b != nil {
		e.t.Fatal("batch open at reopen")
	}
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.openDB()
	e.l = e.open(minTTL)
}

func keysOf(t *testing.T, l *Lessor, id int64, r pebble.Reader) []string {
	t.Helper()
	ks, err := l.Keys(id, r)
	if err != nil {
		t.Fatalf("Keys(%d): %v", id, err)
	}
	out := []string{}
	for _, k := range ks {
		out = append(out, string(k))
	}
	return out
}

func TestGrant(t *testing.T) {
	tests := []struct {
		name    string
		minTTL  int64
		id, ttl int64
		wantTTL int64
		wantErr error
	}{
		{name: "plain", minTTL: 5, id: 1, ttl: 10, wantTTL: 10},
		{name: "below min raised", minTTL: 5, id: 1, ttl: 2, wantTTL: 5},
		{name: "zero ttl raised", minTTL: 5, id: 1, ttl: 0, wantTTL: 5},
		{name: "negative ttl raised", minTTL: 5, id: 1, ttl: -3, wantTTL: 5},
		{name: "min defaults to 1", minTTL: 0, id: 1, ttl: 0, wantTTL: 1},
		{name: "exactly max", minTTL: 1, id: 1, ttl: MaxTTL, wantTTL: MaxTTL},
		{name: "above max", minTTL: 1, id: 1, ttl: MaxTTL + 1, wantErr: ErrTTLTooLarge},
		{name: "id zero", minTTL: 1, id: 0, ttl: 10, wantErr: ErrNotFound},
		{name: "negative id", minTTL: 1, id: -7, ttl: 10, wantTTL: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.minTTL)
			b := e.batch()
			ls, err := e.l.Grant(tc.id, tc.ttl)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Grant err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if !b.Empty() {
					t.Errorf("a refused grant wrote to the batch")
				}
				if e.l.Exists(tc.id) {
					t.Errorf("a refused grant created lease %d", tc.id)
				}
				e.commit()
				return
			}
			if ls.ID != tc.id || ls.TTL != tc.wantTTL || ls.RemainingTTL != 0 {
				t.Fatalf("Grant = %+v, want ID %d TTL %d", ls, tc.id, tc.wantTTL)
			}
			if got := e.l.GrantedTTL(tc.ttl); got != tc.wantTTL {
				t.Errorf("GrantedTTL(%d) = %d, want %d", tc.ttl, got, tc.wantTTL)
			}
			if !e.l.Exists(tc.id) {
				t.Errorf("Exists(%d) = false after Grant", tc.id)
			}
			// Not durable until the batch commits.
			if _, closer, err := e.db.Get(recordKey(tc.id)); err == nil {
				closer.Close()
				t.Errorf("the record reached the DB before the batch committed")
			}
			e.commit()
			e.reopen(tc.minTTL)
			got, ok := e.l.Lookup(tc.id)
			if !ok || got.TTL != tc.wantTTL || got.ID != tc.id {
				t.Fatalf("after reopen Lookup(%d) = %+v, %v; want TTL %d", tc.id, got, ok, tc.wantTTL)
			}
		})
	}
}

func TestGrantExists(t *testing.T) {
	e := newEnv(t, 1)
	e.grant(5, 10)
	e.batch()
	if _, err := e.l.Grant(5, 20); !errors.Is(err, ErrExists) {
		t.Fatalf("second Grant err = %v, want ErrExists", err)
	}
	if !e.b.Empty() {
		t.Errorf("a refused grant wrote to the batch")
	}
	e.commit()
	if got, _ := e.l.Lookup(5); got.TTL != 10 {
		t.Errorf("TTL = %d after a refused re-grant, want 10", got.TTL)
	}
}

func TestAttachDetachKeys(t *testing.T) {
	e := newEnv(t, 1)
	e.grant(1, 10)
	e.grant(2, 10)
	e.grant(-1, 10) // 0xffff...: the prefix end must not wrap
	e.grant(256, 10)

	b := e.batch()
	attach := []struct {
		id  int64
		key string
	}{
		{1, "b"}, {1, "a"}, {1, "a\x00z"}, {1, "\xff\xff"}, {1, ""},
		{2, "a"}, {-1, "x"}, {256, "y"},
	}
	for _, a := range attach {
		e.l.Attach(a.id, []byte(a.key))
	}
	want1 := []string{"", "a", "a\x00z", "b", "\xff\xff"}
	// The batch sees its own attachments; the DB does not yet.
	if got := keysOf(t, e.l, 1, b); !reflect.DeepEqual(got, want1) {
		t.Errorf("Keys(1, batch) = %q, want %q", got, want1)
	}
	if got := keysOf(t, e.l, 1, e.db); len(got) != 0 {
		t.Errorf("Keys(1, db) before commit = %q, want none", got)
	}
	e.commit()

	tests := []struct {
		id   int64
		want []string
	}{
		{1, want1},
		{2, []string{"a"}},
		{-1, []string{"x"}},
		{256, []string{"y"}},
		{3, []string{}},
	}
	for _, tc := range tests {
		if got := keysOf(t, e.l, tc.id, e.db); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Keys(%d) = %q, want %q", tc.id, got, tc.want)
		}
	}

	b = e.batch()
	e.l.Detach(1, []byte("a"))
	e.l.Detach(1, []byte("not-attached")) // harmless
	e.l.Detach(2, []byte("zzz"))
	if got, want := keysOf(t, e.l, 1, b), []string{"", "a\x00z", "b", "\xff\xff"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys(1, batch) after Detach = %q, want %q", got, want)
	}
	e.commit()
	if got, want := keysOf(t, e.l, 2, e.db), []string{"a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys(2) = %q, want %q (detach of lease 1's key touched lease 2)", got, want)
	}
}

func TestRevokeForget(t *testing.T) {
	e := newEnv(t, 1)
	e.grant(1, 10)
	e.grant(2, 10)
	e.batch()
	e.l.Attach(1, []byte("k1"))
	e.l.Attach(1, []byte("k2"))
	e.l.Attach(2, []byte("other"))
	e.commit()

	b := e.batch()
	// An attachment made earlier in the same batch is seen by Revoke.
	e.l.Attach(1, []byte("k3"))
	keys, err := e.l.Revoke(1)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if got, want := strs(keys), []string{"k1", "k2", "k3"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Revoke keys = %q, want %q", got, want)
	}
	if !e.l.Exists(1) {
		t.Fatalf("Revoke alone must not drop the lease (Forget does)")
	}
	if _, err := e.l.Revoke(99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke(unknown) err = %v, want ErrNotFound", err)
	}
	e.l.Forget(1)
	if e.l.Exists(1) {
		t.Fatalf("Exists(1) after Forget")
	}
	if got := keysOf(t, e.l, 1, b); len(got) != 0 {
		t.Fatalf("Keys(1, batch) after Forget = %q, want none", got)
	}
	if _, err := e.l.Revoke(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Revoke after Forget err = %v, want ErrNotFound", err)
	}
	e.commit()

	e.reopen(1)
	if e.l.Exists(1) {
		t.Errorf("forgotten lease 1 came back after reopen")
	}
	if got, want := e.l.IDs(), []int64{2}; !reflect.DeepEqual(got, want) {
		t.Errorf("IDs after reopen = %v, want %v", got, want)
	}
	if got := keysOf(t, e.l, 1, e.db); len(got) != 0 {
		t.Errorf("lease 1 attachments survived: %q", got)
	}
	if got, want := keysOf(t, e.l, 2, e.db), []string{"other"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Keys(2) = %q, want %q", got, want)
	}
}

func strs(bs [][]byte) []string {
	out := []string{}
	for _, b := range bs {
		out = append(out, string(b))
	}
	return out
}

func TestCheckpoint(t *testing.T) {
	e := newEnv(t, 1)
	e.grant(1, 100)
	e.grant(2, 100)

	e.batch()
	e.l.Checkpoint(1, 40)
	e.commit()

	b := e.batch()
	e.l.Checkpoint(99, 5) // unknown: nothing happens
	if !b.Empty() {
		t.Errorf("a checkpoint of an unknown lease wrote to the batch")
	}
	e.commit()
	if e.l.Exists(99) {
		t.Fatalf("a checkpoint created lease 99")
	}

	e.reopen(1)
	if got, _ := e.l.Lookup(1); got.TTL != 100 || got.RemainingTTL != 40 {
		t.Fatalf("after reopen lease 1 = %+v, want TTL 100 remaining 40", got)
	}
	if got, _ := e.l.Lookup(2); got.RemainingTTL != 0 {
		t.Fatalf("lease 2 RemainingTTL = %d, want 0", got.RemainingTTL)
	}

	// A new primary starts from the checkpointed remaining TTL, not the
	// full TTL.
	e.l.Promote(0)
	e.clock.Advance(40*time.Second - time.Nanosecond)
	if got := e.l.Expired(10); len(got) != 0 {
		t.Fatalf("Expired before the checkpointed deadline = %v", got)
	}
	e.clock.Advance(time.Nanosecond)
	if got, want := e.l.Expired(10), []int64{1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Expired at the checkpointed deadline = %v, want %v", got, want)
	}

	// A checkpoint of 0 clears it.
	e.batch()
	e.l.Checkpoint(1, 0)
	e.commit()
	e.reopen(1)
	if got, _ := e.l.Lookup(1); got.RemainingTTL != 0 {
		t.Fatalf("RemainingTTL = %d after clearing, want 0", got.RemainingTTL)
	}
}

func TestPromoteDemote(t *testing.T) {
	const extend = 3 * time.Second
	e := newEnv(t, 1)
	e.grant(1, 10)
	e.grant(2, 20)

	if e.l.IsPrimary() {
		t.Fatal("a new lessor is primary")
	}
	// A follower keeps no deadlines.
	e.clock.Advance(time.Hour)
	if got := e.l.Expired(10); got != nil {
		t.Fatalf("follower Expired = %v, want nil", got)
	}
	if _, _, err := e.l.Renew(1); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("follower Renew err = %v, want ErrNotPrimary", err)
	}
	if _, _, err := e.l.TimeToLive(1); !errors.Is(err, ErrNotPrimary) {
		t.Fatalf("follower TimeToLive err = %v, want ErrNotPrimary", err)
	}
	if got := e.l.Remaining(10); got != nil {
		t.Fatalf("follower Remaining = %v, want nil", got)
	}

	e.l.Promote(extend)
	if !e.l.IsPrimary() {
		t.Fatal("IsPrimary false after Promote")
	}
	steps := []struct {
		advance time.Duration
		want    []int64
	}{
		{0, []int64{}},
		{10*time.Second + extend - time.Nanosecond, []int64{}},
		{time.Nanosecond, []int64{1}},
		{10*time.Second - time.Nanosecond, []int64{1}},
		{time.Nanosecond, []int64{1, 2}},
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		got := e.l.Expired(10)
		if got == nil {
			got = []int64{}
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Fatalf("step %d: Expired = %v, want %v", i, got, s.want)
		}
	}

	e.l.Demote()
	if e.l.IsPrimary() {
		t.Fatal("IsPrimary after Demote")
	}
	if got := e.l.Expired(10); got != nil {
		t.Fatalf("Expired after Demote = %v, want nil", got)
	}
	if ls, _ := e.l.Lookup(1); !ls.expiry.IsZero() {
		t.Fatalf("Demote kept a deadline: %v", ls.expiry)
	}

	// Promoting again starts fresh deadlines from now.
	e.l.Promote(0)
	if got := e.l.Expired(10); len(got) != 0 {
		t.Fatalf("Expired right after re-Promote = %v", got)
	}
	if g, rem, err := e.l.TimeToLive(2); err != nil || g != 20 || rem != 20 {
		t.Fatalf("TimeToLive(2) = %d, %d, %v; want 20, 20", g, rem, err)
	}
}

func TestGrantOnPrimaryHasDeadline(t *testing.T) {
	e := newEnv(t, 1)
	e.l.Promote(time.Minute)
	e.grant(1, 5) // granted on the primary: no extension
	e.clock.Advance(5*time.Second - time.Nanosecond)
	if got := e.l.Expired(10); len(got) != 0 {
		t.Fatalf("Expired = %v before the TTL", got)
	}
	e.clock.Advance(time.Nanosecond)
	if got, want := e.l.Expired(10), []int64{1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Expired = %v, want %v", got, want)
	}
}

func TestRenew(t *testing.T) {
	tests := []struct {
		name       string
		primary    bool
		checkpoint int64 // remaining TTL checkpointed before promotion
		advance    time.Duration
		id         int64
		wantTTL    int64
		wantClear  bool
		wantErr    error
	}{
		{name: "follower", primary: false, id: 1, wantErr: ErrNotPrimary},
		{name: "unknown", primary: true, id: 42, wantErr: ErrNotFound},
		{name: "fresh", primary: true, id: 1, advance: 3 * time.Second, wantTTL: 10},
		{name: "checkpointed asks to clear", primary: true, checkpoint: 4, id: 1, advance: time.Second, wantTTL: 10, wantClear: true},
		{name: "just before deadline", primary: true, id: 1, advance: 10*time.Second - time.Nanosecond, wantTTL: 10},
		{name: "expired", primary: true, id: 1, advance: 10 * time.Second, wantErr: ErrNotFound},
		{name: "checkpointed and expired", primary: true, checkpoint: 4, id: 1, advance: 4 * time.Second, wantErr: ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			e.grant(1, 10)
			if tc.checkpoint != 0 {
				e.batch()
				e.l.Checkpoint(1, tc.checkpoint)
				e.commit()
			}
			if tc.primary {
				e.l.Promote(0)
			}
			e.clock.Advance(tc.advance)
			ttl, clear, err := e.l.Renew(tc.id)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Renew err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if ttl != tc.wantTTL || clear != tc.wantClear {
				t.Fatalf("Renew = %d, %v; want %d, %v", ttl, clear, tc.wantTTL, tc.wantClear)
			}
			// The deadline is now a full TTL away, checkpoint or not.
			e.clock.Advance(10*time.Second - time.Nanosecond)
			if got := e.l.Expired(10); len(got) != 0 {
				t.Fatalf("Expired %v before a full TTL after Renew", got)
			}
			e.clock.Advance(time.Nanosecond)
			if got := e.l.Expired(10); len(got) != 1 || got[0] != tc.id {
				t.Fatalf("Expired = %v a full TTL after Renew, want [%d]", got, tc.id)
			}
		})
	}
}

func TestTimeToLive(t *testing.T) {
	tests := []struct {
		name        string
		advance     time.Duration
		wantGranted int64
		wantRem     int64
	}{
		{"fresh", 0, 30, 30},
		{"partly used", 10 * time.Second, 30, 20},
		{"truncates fractions", 10*time.Second + 500*time.Millisecond, 30, 19},
		{"at deadline", 30 * time.Second, 30, 0},
		{"past deadline floors at zero", time.Hour, 30, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			e.grant(7, 30)
			e.l.Promote(0)
			e.clock.Advance(tc.advance)
			g, rem, err := e.l.TimeToLive(7)
			if err != nil {
				t.Fatal(err)
			}
			if g != tc.wantGranted || rem != tc.wantRem {
				t.Fatalf("TimeToLive = %d, %d; want %d, %d", g, rem, tc.wantGranted, tc.wantRem)
			}
			if _, _, err := e.l.TimeToLive(8); !errors.Is(err, ErrNotFound) {
				t.Fatalf("TimeToLive(unknown) err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestExpiredOrderAndLimit(t *testing.T) {
	e := newEnv(t, 1)
	e.l.Promote(0)
	// Deadlines: id -> ttl. Equal deadlines are ordered by ID.
	grants := []struct{ id, ttl int64 }{
		{50, 5}, {10, 30}, {40, 5}, {20, 10}, {30, 20}, {60, 1000},
	}
	for _, g := range grants {
		e.grant(g.id, g.ttl)
	}
	e.clock.Advance(30 * time.Second)
	tests := []struct {
		limit int
		want  []int64
	}{
		{0, []int64{}},
		{1, []int64{40}},
		{2, []int64{40, 50}},
		{4, []int64{40, 50, 20, 30}},
		{5, []int64{40, 50, 20, 30, 10}},
		{100, []int64{40, 50, 20, 30, 10}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("limit ", tc.limit), func(t *testing.T) {
			got := e.l.Expired(tc.limit)
			if got == nil {
				got = []int64{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Expired(%d) = %v, want %v", tc.limit, got, tc.want)
			}
		})
	}
}

func TestRemaining(t *testing.T) {
	e := newEnv(t, 1)
	e.grant(1, 10)
	e.grant(2, 10)
	e.grant(3, 100)
	e.batch()
	e.l.Checkpoint(2, 7) // already checkpointed at what it will have left
	e.commit()
	e.l.Promote(0)

	if got := e.l.Remaining(10); len(got) != 0 {
		t.Fatalf("Remaining right after Promote = %v, want none (1 and 3 are full; 2 equals its checkpoint)", got)
	}
	e.clock.Advance(2500 * time.Millisecond)
	// 1: 7.5s left -> ceil 8; 2: deadline 7s after promote -> 4.5 -> 5;
	// 3: 97.5 -> 98.
	want := map[int64]int64{1: 8, 2: 5, 3: 98}
	if got := e.l.Remaining(10); !reflect.DeepEqual(got, want) {
		t.Fatalf("Remaining = %v, want %v", got, want)
	}
	if got := e.l.Remaining(2); len(got) != 2 {
		t.Fatalf("Remaining(2) has %d entries, want 2: %v", len(got), got)
	} else {
		for id, rem := range got {
			if want[id] != rem {
				t.Fatalf("Remaining(2)[%d] = %d, want %d", id, rem, want[id])
			}
		}
	}
	if got := e.l.Remaining(0); len(got) != 0 {
		t.Fatalf("Remaining(0) = %v", got)
	}
	// Expired leases are not checkpointed.
	e.clock.Advance(time.Minute)
	if got, want := e.l.Remaining(10), map[int64]int64{3: 38}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Remaining after expiry = %v, want %v", got, want)
	}
}

func TestReload(t *testing.T) {
	e := newEnv(t, 1)
	e.grant(1, 10)
	e.l.Promote(time.Minute)

	// Another writer (a snapshot install) replaces the records.
	other, err := Open(e.db, Config{MinTTL: 1, Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	b := e.db.NewIndexedBatch()
	other.SetBatch(b)
	if _, err := other.Grant(2, 20); err != nil {
		t.Fatal(err)
	}
	other.Checkpoint(2, 6)
	if _, err := other.Grant(3, 30); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(recordKey(1), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	b.Close()

	if err := e.l.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got, want := e.l.IDs(), []int64{2, 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("IDs after Reload = %v, want %v", got, want)
	}
	if !e.l.IsPrimary() {
		t.Fatal("Reload dropped the primary flag")
	}
	// Deadlines restart from now + remaining, without the promotion's
	// extension.
	if _, rem, err := e.l.TimeToLive(2); err != nil || rem != 6 {
		t.Fatalf("TimeToLive(2) = %d, %v; want 6", rem, err)
	}
	if _, rem, err := e.l.TimeToLive(3); err != nil || rem != 30 {
		t.Fatalf("TimeToLive(3) = %d, %v; want 30", rem, err)
	}
	e.clock.Advance(6 * time.Second)
	if got, want := e.l.Expired(10), []int64{2}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Expired = %v, want %v", got, want)
	}
}

func TestReloadDamagedRecord(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		val  []byte
	}{
		{"short value", recordKey(1), []byte{1, 2, 3}},
		{"long key", append(recordKey(1), 'x'), make([]byte, 16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 1)
			if err := e.db.Set(tc.key, tc.val, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			err := e.l.Reload()
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte("damaged")) {
				t.Fatalf("Reload err = %v, want a damaged-record error", err)
			}
			if _, err := Open(e.db, Config{}); err == nil {
				t.Fatal("Open accepted a damaged record")
			}
		})
	}
}

// Readers on other goroutines race with the apply goroutine's writes; -race
// checks the locking.
func TestConcurrentReaders(t *testing.T) {
	const leases = 100
	e := newEnv(t, 1)
	e.l.Promote(0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				e.l.Expired(5)
				e.l.Remaining(5)
				e.l.IDs()
				e.l.IsPrimary()
				// Renew as soon as a lease appears, as a keep-alive
				// stream does.
				for id := int64(1); id <= leases; id++ {
					_, _, _ = e.l.Renew(id)
					_, _, _ = e.l.TimeToLive(id)
					e.l.Lookup(id)
				}
			}
		}()
	}
	for id := int64(1); id <= leases; id++ {
		e.batch()
		if _, err := e.l.Grant(id, 10); err != nil {
			t.Fatal(err)
		}
		e.l.Attach(id, []byte("k"))
		e.l.Checkpoint(id, 5)
		if id%3 == 0 {
			if _, err := e.l.Revoke(id); err != nil {
				t.Fatal(err)
			}
			e.l.Forget(id)
		}
		e.commit()
		e.clock.Advance(time.Second)
		if id%10 == 0 {
			e.l.Demote()
			e.l.Promote(time.Second)
		}
	}
	close(stop)
	wg.Wait()
}
