package membership

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestComputeIDsKnownValues(t *testing.T) {
	tests := []struct {
		name        string
		urls        []string
		token       string
		wantMember  uint64
		wantCluster uint64
	}{
		{
			// etcd's default single member: `etcd` with no flags logs
			// member 8e9e05c52164694d in cluster cdf818194e3a8c32.
			name:        "etcd default",
			urls:        []string{"http://localhost:2380"},
			token:       "etcd-cluster",
			wantMember:  0x8e9e05c52164694d,
			wantCluster: 0xcdf818194e3a8c32,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := ComputeMemberID(tc.urls, tc.token, 0)
			if id != tc.wantMember {
				t.Fatalf("ComputeMemberID = %x, want %x", id, tc.wantMember)
			}
			if cid := ComputeClusterID([]uint64{id}); cid != tc.wantCluster {
				t.Fatalf("ComputeClusterID = %x, want %x", cid, tc.wantCluster)
			}
		})
	}
}

// sha1ID is the obviously correct model: the first 8 bytes of sha1(s).
func sha1ID(s string) uint64 {
	h := sha1.Sum([]byte(s))
	return binary.BigEndian.Uint64(h[:8])
}

func TestComputeMemberID(t *testing.T) {
	tests := []struct {
		name  string
		urls  []string
		token string
		unix  int64
		want  uint64
	}{
		{"one url", []string{"http://10.0.0.1:2380"}, "tok", 0, sha1ID("http://10.0.0.1:2380tok")},
		{"urls are sorted", []string{"http://b:2380", "http://a:2380"}, "tok", 0, sha1ID("http://a:2380http://b:2380tok")},
		{"added at run time", []string{"http://a:2380"}, "tok", 1700000000, sha1ID("http://a:2380tok1700000000")},
		{"empty token", []string{"http://a:2380"}, "", 0, sha1ID("http://a:2380")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]string(nil), tc.urls...)
			if got := ComputeMemberID(tc.urls, tc.token, tc.unix); got != tc.want {
				t.Fatalf("ComputeMemberID = %x, want %x", got, tc.want)
			}
			if !reflect.DeepEqual(in, tc.urls) {
				t.Fatalf("ComputeMemberID reordered its argument: %v", tc.urls)
			}
		})
	}
	a := ComputeMemberID([]string{"http://a:2380", "http://b:2380"}, "t", 0)
	b := ComputeMemberID([]string{"http://b:2380", "http://a:2380"}, "t", 0)
	if a != b {
		t.Fatalf("URL order changed the ID: %x vs %x", a, b)
	}
}

func TestComputeClusterID(t *testing.T) {
	enc := func(ids ...uint64) string {
		b := make([]byte, 8*len(ids))
		for i, id := range ids {
			binary.BigEndian.PutUint64(b[8*i:], id)
		}
		return string(b)
	}
	tests := []struct {
		name string
		ids  []uint64
		want uint64
	}{
		{"sorted", []uint64{1, 2, 3}, sha1ID(enc(1, 2, 3))},
		{"unsorted input", []uint64{3, 1, 2}, sha1ID(enc(1, 2, 3))},
		{"big ids", []uint64{0xffffffffffffffff, 0x8e9e05c52164694d}, sha1ID(enc(0x8e9e05c52164694d, 0xffffffffffffffff))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]uint64(nil), tc.ids...)
			if got := ComputeClusterID(tc.ids); got != tc.want {
				t.Fatalf("ComputeClusterID = %x, want %x", got, tc.want)
			}
			if !reflect.DeepEqual(in, tc.ids) {
				t.Fatalf("ComputeClusterID reordered its argument")
			}
		})
	}
}

type env struct {
	t  *testing.T
	fs vfs.FS
	db *pebble.DB
	s  *Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, fs: vfs.NewMem()}
	e.open()
	t.Cleanup(func() { e.db.Close() })
	return e
}

func (e *env) open() {
	e.t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: e.fs})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	if e.s, err = Load(db); err != nil {
		e.t.Fatalf("Load: %v", err)
	}
}

func (e *env) reopen() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// do runs f against a fresh batch and commits it.
func (e *env) do(f func(b *pebble.Batch) error) error {
	b := e.db.NewBatch()
	defer b.Close()
	if err := f(b); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

func TestStoreChangesPersist(t *testing.T) {
	e := newEnv(t)
	m1 := Member{ID: 0x10, Name: "m1", PeerURLs: []string{"http://a:2380"}}
	m2 := Member{ID: 0x20, PeerURLs: []string{"http://b:2380"}}
	steps := []struct {
		name    string
		change  func(b *pebble.Batch) error
		want    []Member
		removed []uint64
	}{
		{
			name:   "add voter",
			change: func(b *pebble.Batch) error { return e.s.Add(b, EncodeContext(m1), false) },
			want:   []Member{m1},
		},
		{
			name: "add learner (learner flag comes from the change, not the context)",
			change: func(b *pebble.Batch) error {
				c := m2
				c.IsLearner = false
				return e.s.Add(b, EncodeContext(c), true)
			},
			want: []Member{m1, {ID: 0x20, PeerURLs: []string{"http://b:2380"}, IsLearner: true}},
		},
		{
			name:   "promote",
			change: func(b *pebble.Batch) error { return e.s.Promote(b, 0x20) },
			want:   []Member{m1, m2},
		},
		{
			name: "update peer urls",
			change: func(b *pebble.Batch) error {
				return e.s.UpdatePeerURLs(b, 0x20, []string{"http://b2:2380", "http://b3:2380"})
			},
			want: []Member{m1, {ID: 0x20, PeerURLs: []string{"http://b2:2380", "http://b3:2380"}}},
		},
		{
			name: "set attributes",
			change: func(b *pebble.Batch) error {
				return e.s.SetAttributes(b, 0x20, "m2", []string{"http://b2:2379"})
			},
			want: []Member{m1, {ID: 0x20, Name: "m2", PeerURLs: []string{"http://b2:2380", "http://b3:2380"}, ClientURLs: []string{"http://b2:2379"}}},
		},
		{
			name:    "remove",
			change:  func(b *pebble.Batch) error { return e.s.Remove(b, 0x10) },
			want:    []Member{{ID: 0x20, Name: "m2", PeerURLs: []string{"http://b2:2380", "http://b3:2380"}, ClientURLs: []string{"http://b2:2379"}}},
			removed: []uint64{0x10},
		},
		{
			name: "changes to unknown members are no-ops",
			change: func(b *pebble.Batch) error {
				return firstErr(e.s.Promote(b, 0x99), e.s.UpdatePeerURLs(b, 0x99, []string{"x"}), e.s.SetAttributes(b, 0x99, "n", nil))
			},
			want:    []Member{{ID: 0x20, Name: "m2", PeerURLs: []string{"http://b2:2380", "http://b3:2380"}, ClientURLs: []string{"http://b2:2379"}}},
			removed: []uint64{0x10},
		},
	}
	for _, st := range steps {
		if err := e.do(st.change); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		check := func(when string) {
			t.Helper()
			if got := norm(e.s.Members()); !reflect.DeepEqual(got, norm(st.want)) {
				t.Fatalf("%s (%s): Members = %+v, want %+v", st.name, when, got, st.want)
			}
			for _, m := range st.want {
				if got, ok := e.s.Member(m.ID); !ok || !reflect.DeepEqual(norm([]Member{got}), norm([]Member{m})) {
					t.Fatalf("%s (%s): Member(%x) = %+v, %v", st.name, when, m.ID, got, ok)
				}
			}
			for _, id := range []uint64{0x10, 0x20, 0x99} {
				wantRemoved := false
				for _, r := range st.removed {
					wantRemoved = wantRemoved || r == id
				}
				if got := e.s.IsRemoved(id); got != wantRemoved {
					t.Fatalf("%s (%s): IsRemoved(%x) = %v, want %v", st.name, when, id, got, wantRemoved)
				}
				if wantRemoved {
					if _, ok := e.s.Member(id); ok {
						t.Fatalf("%s (%s): removed member %x still listed", st.name, when, id)
					}
				}
			}
		}
		check("in memory")
		e.reopen()
		check("reloaded")
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// norm makes nil and empty slices compare equal.
func norm(ms []Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		if len(m.PeerURLs) == 0 {
			m.PeerURLs = nil
		}
		if len(m.ClientURLs) == 0 {
			m.ClientURLs = nil
		}
		out[i] = m
	}
	return out
}

func TestMembersSortedAndCopied(t *testing.T) {
	e := newEnv(t)
	for _, id := range []uint64{0x30, 0x10, 0x20} {
		m := Member{ID: id, PeerURLs: []string{"http://p"}, ClientURLs: []string{"http://c"}}
		if err := e.do(func(b *pebble.Batch) error { return e.s.Add(b, EncodeContext(m), false) }); err != nil {
			t.Fatal(err)
		}
	}
	ms := e.s.Members()
	var ids []uint64
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	if want := []uint64{0x10, 0x20, 0x30}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("Members order = %x, want %x", ids, want)
	}
	ms[0].PeerURLs[0] = "mutated"
	ms[0].ClientURLs[0] = "mutated"
	if m, _ := e.s.Member(0x10); m.PeerURLs[0] != "http://p" || m.ClientURLs[0] != "http://c" {
		t.Fatalf("mutating Members() changed the store: %+v", m)
	}
}

func TestAddDamagedContext(t *testing.T) {
	e := newEnv(t)
	b := e.db.NewBatch()
	defer b.Close()
	for _, ctx := range [][]byte{nil, []byte("not json"), []byte(`{"id":"x"}`)} {
		err := e.s.Add(b, ctx, false)
		if !errors.Is(err, ErrDamagedContext) {
			t.Errorf("Add(%q) err = %v, want ErrDamagedContext", ctx, err)
		}
	}
	if !b.Empty() {
		t.Errorf("a refused Add wrote to the batch")
	}
	if len(e.s.Members()) != 0 {
		t.Errorf("a refused Add changed the member list")
	}
}

func TestLoadDamagedRecord(t *testing.T) {
	e := newEnv(t)
	if err := e.db.Set(memberKey(1), []byte("{broken"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	_, err := Load(e.db)
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Load err = %v, want a damaged-record error", err)
	}
}

func TestEncodeContextRoundTrip(t *testing.T) {
	m := Member{ID: 0x8e9e05c52164694d, Name: "default", PeerURLs: []string{"http://localhost:2380"}, ClientURLs: []string{"http://localhost:2379"}, IsLearner: true}
	e := newEnv(t)
	if err := e.do(func(b *pebble.Batch) error { return e.s.Add(b, EncodeContext(m), true) }); err != nil {
		t.Fatal(err)
	}
	got, ok := e.s.Member(m.ID)
	if !ok || !reflect.DeepEqual(got, m) {
		t.Fatalf("Member = %+v, %v; want %+v", got, ok, m)
	}
}

func TestReloadReplacesState(t *testing.T) {
	e := newEnv(t)
	if err := e.do(func(b *pebble.Batch) error {
		return e.s.Add(b, EncodeContext(Member{ID: 1, PeerURLs: []string{"http://a"}}), false)
	}); err != nil {
		t.Fatal(err)
	}
	// A second DB stands for an installed snapshot with other members.
	other := newEnv(t)
	if err := other.do(func(b *pebble.Batch) error {
		if err := other.s.Add(b, EncodeContext(Member{ID: 2, PeerURLs: []string{"http://b"}}), false); err != nil {
			return err
		}
		if err := other.s.Add(b, EncodeContext(Member{ID: 3, PeerURLs: []string{"http://c"}}), false); err != nil {
			return err
		}
		return other.s.Remove(b, 3)
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Reload(other.db); err != nil {
		t.Fatal(err)
	}
	ms := e.s.Members()
	if len(ms) != 1 || ms[0].ID != 2 {
		t.Fatalf("Members after Reload = %+v, want only 2", ms)
	}
	if !e.s.IsRemoved(3) || e.s.IsRemoved(1) {
		t.Fatalf("IsRemoved after Reload: 3=%v 1=%v, want true false", e.s.IsRemoved(3), e.s.IsRemoved(1))
	}
}
