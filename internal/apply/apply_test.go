package apply

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/cairndb/cairn/internal/lease"
	"github.com/cairndb/cairn/internal/membership"
	"github.com/cairndb/cairn/internal/mvcc"
	"github.com/cairndb/cairn/internal/raftnode"
)

// node is one member's state machine over an in-memory pebble DB, wired as
// internal/server wires it.
type node struct {
	t       *testing.T
	fs      vfs.FS
	db      *pebble.DB
	kv      *mvcc.Store
	members *membership.Store
	lessor  *lease.Lessor
	alarms  *Alarms
	down    *Downgrade
	a       *Applier

	results   map[uint64]Result
	delivered []uint64 // request IDs in delivery order
	empties   []uint64 // terms of applied empty entries
	closed    bool
}

func newNode(t *testing.T) *node {
	t.Helper()
	n := &node{t: t, fs: vfs.NewMem()}
	n.open()
	t.Cleanup(n.close)
	return n
}

func (n *node) open() {
	n.t.Helper()
	db, err := pebble.Open("db", &pebble.Options{FS: n.fs})
	if err != nil {
		n.t.Fatal(err)
	}
	n.db = db
	if n.members, err = membership.Load(db); err != nil {
		n.t.Fatal(err)
	}
	if n.lessor, err = lease.Open(db, lease.Config{MinTTL: 5}); err != nil {
		n.t.Fatal(err)
	}
	if n.kv, err = mvcc.NewStore(db, mvcc.Config{Lessor: n.lessor, Logger: zap.NewNop()}); err != nil {
		n.t.Fatal(err)
	}
	if n.alarms, err = LoadAlarms(db); err != nil {
		n.t.Fatal(err)
	}
	if n.a, err = New(db, n.kv, n.members, n.lessor, n.alarms, zaptest.NewLogger(n.t)); err != nil {
		n.t.Fatal(err)
	}
	if n.down, err = LoadDowngrade(db); err != nil {
		n.t.Fatal(err)
	}
	n.a.Downgrade = n.down
	n.a.OnEmptyEntry = func(term uint64) { n.empties = append(n.empties, term) }
	n.results = map[uint64]Result{}
	n.delivered = nil
	n.empties = nil
	n.closed = false
}

func (n *node) close() {
	if n.closed {
		return
	}
	n.closed = true
	if err := n.kv.Close(); err != nil {
		n.t.Errorf("mvcc close: %v", err)
	}
	if err := n.db.Close(); err != nil {
		n.t.Errorf("db close: %v", err)
	}
}

// restart closes and reopens everything over the same files.
func (n *node) restart() {
	n.t.Helper()
	n.close()
	n.open()
}

func (n *node) done(id uint64, r Result) {
	if _, dup := n.results[id]; dup {
		n.t.Errorf("request %d delivered twice", id)
	}
	n.results[id] = r
	n.delivered = append(n.delivered, id)
}

// apply applies ents in one batch and commits it, as the apply loop does.
func (n *node) apply(ents ...raftnode.Entry) []mvccpb.Event {
	n.t.Helper()
	b := n.db.NewIndexedBatch()
	evs := n.a.Apply(b, ents, n.done)
	if err := b.Commit(pebble.Sync); err != nil {
		n.t.Fatal(err)
	}
	b.Close()
	n.kv.Committed()
	return evs
}

// waitCompactions waits for every physical compaction a result asked for.
func (n *node) waitCompactions() {
	for _, r := range n.results {
		if r.Compacted != nil {
			<-r.Compacted
		}
	}
}

func (n *node) appliedOnDisk() uint64 {
	n.t.Helper()
	v, closer, err := n.db.Get(AppliedIndexKey())
	if errors.Is(err, pebble.ErrNotFound) {
		return 0
	}
	if err != nil {
		n.t.Fatal(err)
	}
	defer closer.Close()
	return binary.BigEndian.Uint64(v)
}

func (n *node) get(key string) *mvccpb.KeyValue {
	n.t.Helper()
	r := n.kv.Read()
	defer r.Close()
	resp, err := r.Range(&pb.RangeRequest{Key: []byte(key)})
	if err != nil {
		n.t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0]
}

type kvPair struct{ k, v []byte }

// dump returns every key and value in the DB.
func dump(t *testing.T, db *pebble.DB) []kvPair {
	t.Helper()
	it, err := db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []kvPair
	for it.First(); it.Valid(); it.Next() {
		out = append(out, kvPair{append([]byte(nil), it.Key()...), append([]byte(nil), it.Value()...)})
	}
	return out
}

func sameState(t *testing.T, what string, a, b *pebble.DB) {
	t.Helper()
	da, db := dump(t, a), dump(t, b)
	for i := 0; i < len(da) && i < len(db); i++ {
		if !bytes.Equal(da[i].k, db[i].k) || !bytes.Equal(da[i].v, db[i].v) {
			t.Fatalf("%s: state differs at item %d: %q=%x vs %q=%x", what, i, da[i].k, da[i].v, db[i].k, db[i].v)
		}
	}
	if len(da) != len(db) {
		t.Fatalf("%s: %d keys vs %d keys", what, len(da), len(db))
	}
}

// log builds raft entries with increasing indexes.
type log struct {
	t    *testing.T
	idx  uint64
	term uint64
}

func (l *log) next() (uint64, uint64) { l.idx++; return l.idx, l.term }

func (l *log) req(id uint64, r *pb.InternalRaftRequest) raftnode.Entry {
	l.t.Helper()
	if id != 0 {
		r.Header = &pb.RequestHeader{ID: id}
	}
	data, err := r.Marshal()
	if err != nil {
		l.t.Fatal(err)
	}
	i, term := l.next()
	return raftnode.Entry{Index: i, Term: term, Kind: raftnode.EntryNormal, Data: data}
}

func (l *log) empty() raftnode.Entry {
	i, term := l.next()
	return raftnode.Entry{Index: i, Term: term, Kind: raftnode.EntryNormal}
}

func (l *log) conf(reqID uint64, kind raftnode.ConfChangeKind, m membership.Member) raftnode.Entry {
	l.t.Helper()
	ctx, err := json.Marshal(struct {
		membership.Member
		ReqID uint64 `json:"reqID,omitempty"`
	}{m, reqID})
	if err != nil {
		l.t.Fatal(err)
	}
	i, term := l.next()
	return raftnode.Entry{Index: i, Term: term, Kind: raftnode.EntryConfChange,
		Changes: []raftnode.ConfChange{{Kind: kind, NodeID: m.ID, Context: ctx}}}
}

func put(k, v string, leaseID int64) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte(v), Lease: leaseID}}
}

// step is one entry and what its application must produce.
type step struct {
	name  string
	entry func(l *log, id uint64) raftnode.Entry
	// check inspects the result (nil when nothing was delivered), the
	// events of the entry and the node after the commit.
	check func(t *testing.T, res *Result, evs []mvccpb.Event, n *node)
}

func wantErr(want error) func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
	return func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
		t.Helper()
		if res == nil {
			t.Fatal("no result delivered")
		}
		if !errors.Is(res.Err, want) {
			t.Fatalf("err = %v, want %v", res.Err, want)
		}
		if len(evs) != 0 {
			t.Fatalf("a failed request produced events: %v", evs)
		}
	}
}

func noErr(t *testing.T, res *Result) {
	t.Helper()
	if res == nil {
		t.Fatal("no result delivered")
	}
	if res.Err != nil {
		t.Fatalf("err = %v", res.Err)
	}
}

func header(t *testing.T, resp interface{ GetHeader() *pb.ResponseHeader }, wantRev int64) {
	t.Helper()
	if got := resp.GetHeader().GetRevision(); got != wantRev {
		t.Fatalf("header revision = %d, want %d", got, wantRev)
	}
}

func evTypes(evs []mvccpb.Event) string {
	s := ""
	for _, e := range evs {
		s += fmt.Sprintf("%s %s@%d;", e.Type, e.Kv.Key, e.Kv.ModRevision)
	}
	return s
}

func wantEvents(t *testing.T, evs []mvccpb.Event, want string) {
	t.Helper()
	if got := evTypes(evs); got != want {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

var (
	m1 = membership.Member{ID: 0x10, Name: "m1", PeerURLs: []string{"http://m1:2380"}}
	m2 = membership.Member{ID: 0x20, Name: "m2", PeerURLs: []string{"http://m2:2380"}}
)

// scenario is a sequence touching every kind of request apply knows.
func scenario() []step {
	return []step{
		{
			name:  "leader's empty entry",
			entry: func(l *log, _ uint64) raftnode.Entry { return l.empty() },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				if res != nil {
					t.Fatal("an empty entry delivered a result")
				}
				if want := []uint64{2}; !reflect.DeepEqual(n.empties, want) {
					t.Fatalf("OnEmptyEntry terms = %v, want %v", n.empties, want)
				}
			},
		},
		{
			name:  "add member",
			entry: func(l *log, id uint64) raftnode.Entry { return l.conf(id, raftnode.ConfAddNode, m1) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				if m, ok := n.members.Member(m1.ID); !ok || m.IsLearner || m.Name != "m1" {
					t.Fatalf("member = %+v, %v", m, ok)
				}
			},
		},
		{
			name: "publish attributes",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
					Member_ID: m1.ID, MemberAttributes: &membershippb.Attributes{Name: "m1-published", ClientUrls: []string{"http://m1:2379"}}}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				m, _ := n.members.Member(m1.ID)
				if m.Name != "m1-published" || !reflect.DeepEqual(m.ClientURLs, []string{"http://m1:2379"}) {
					t.Fatalf("member = %+v", m)
				}
			},
		},
		{
			name:  "put",
			entry: func(l *log, id uint64) raftnode.Entry { return l.req(id, put("foo", "bar", 0)) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				header(t, res.Resp.(*pb.PutResponse), 2)
				wantEvents(t, evs, "PUT foo@2;")
			},
		},
		{
			name: "lease grant",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 7, TTL: 60}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				r := res.Resp.(*pb.LeaseGrantResponse)
				if r.ID != 7 || r.TTL != 60 {
					t.Fatalf("grant = %+v", r)
				}
				header(t, r, 2)
				if !n.lessor.Exists(7) {
					t.Fatal("lease 7 missing")
				}
			},
		},
		{
			name: "lease grant below min TTL",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 8, TTL: 1}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				if r := res.Resp.(*pb.LeaseGrantResponse); r.TTL != 5 {
					t.Fatalf("TTL = %d, want the minimum 5", r.TTL)
				}
			},
		},
		{
			name: "lease grant of a taken ID",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 7, TTL: 10}})
			},
			check: wantErr(lease.ErrExists),
		},
		{
			name:  "put k1 with lease",
			entry: func(l *log, id uint64) raftnode.Entry { return l.req(id, put("k1", "v", 7)) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				header(t, res.Resp.(*pb.PutResponse), 3)
			},
		},
		{
			name:  "put k2 with lease",
			entry: func(l *log, id uint64) raftnode.Entry { return l.req(id, put("k2", "v", 7)) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				header(t, res.Resp.(*pb.PutResponse), 4)
			},
		},
		{
			name:  "put k3 with lease",
			entry: func(l *log, id uint64) raftnode.Entry { return l.req(id, put("k3", "v", 7)) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) { noErr(t, res) },
		},
		{
			name:  "put k3 without lease detaches it",
			entry: func(l *log, id uint64) raftnode.Entry { return l.req(id, put("k3", "v2", 0)) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				header(t, res.Resp.(*pb.PutResponse), 6)
			},
		},
		{
			name:  "put with an unknown lease",
			entry: func(l *log, id uint64) raftnode.Entry { return l.req(id, put("k4", "v", 99)) },
			check: wantErr(mvcc.ErrLeaseNotFound),
		},
		{
			name: "txn",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
					Compare: []*pb.Compare{{Key: []byte("foo"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
						TargetUnion: &pb.Compare_Value{Value: []byte("bar")}}},
					Success: []*pb.RequestOp{
						{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("t"), Value: []byte("1")}}},
						{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("foo"), Value: []byte("baz")}}},
					},
				}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				r := res.Resp.(*pb.TxnResponse)
				if !r.Succeeded {
					t.Fatal("txn did not succeed")
				}
				header(t, r, 7)
				wantEvents(t, evs, "PUT t@7;PUT foo@7;")
			},
		},
		{
			name: "delete range",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("foo")}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				r := res.Resp.(*pb.DeleteRangeResponse)
				if r.Deleted != 1 {
					t.Fatalf("deleted = %d", r.Deleted)
				}
				header(t, r, 8)
				wantEvents(t, evs, "DELETE foo@8;")
				if n.get("foo") != nil {
					t.Fatal("foo still there")
				}
			},
		},
		{
			name: "lease checkpoint",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{
					Checkpoints: []*pb.LeaseCheckpoint{{ID: 7, Remaining_TTL: 30}, {ID: 12345, Remaining_TTL: 3}}}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				if ls, _ := n.lessor.Lookup(7); ls.RemainingTTL != 30 {
					t.Fatalf("RemainingTTL = %d, want 30", ls.RemainingTTL)
				}
				if n.lessor.Exists(12345) {
					t.Fatal("a checkpoint created a lease")
				}
			},
		},
		{
			name: "lease revoke deletes its keys in one revision",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				header(t, res.Resp.(*pb.LeaseRevokeResponse), 9)
				wantEvents(t, evs, "DELETE k1@9;DELETE k2@9;")
				if n.lessor.Exists(7) {
					t.Fatal("lease 7 still exists")
				}
				if n.get("k1") != nil || n.get("k2") != nil {
					t.Fatal("leased keys survived the revoke")
				}
				if kv := n.get("k3"); kv == nil || string(kv.Value) != "v2" || kv.Lease != 0 {
					t.Fatalf("k3 (moved off the lease) = %v", kv)
				}
				if n.kv.Rev() != 9 {
					t.Fatalf("store revision = %d, want 9", n.kv.Rev())
				}
			},
		},
		{
			name: "lease revoke of an unknown lease",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 7}})
			},
			check: wantErr(lease.ErrNotFound),
		},
		{
			name: "lease revoke with no keys",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 8}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				header(t, res.Resp.(*pb.LeaseRevokeResponse), 9)
				wantEvents(t, evs, "")
			},
		},
		{
			name: "compaction",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 5}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				header(t, res.Resp.(*pb.CompactionResponse), 9)
				if res.Compacted == nil {
					t.Fatal("no Compacted channel")
				}
				if n.kv.CompactRev() != 5 {
					t.Fatalf("CompactRev = %d", n.kv.CompactRev())
				}
			},
		},
		{
			name: "compaction below the compacted revision",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 3}})
			},
			check: wantErr(mvcc.ErrCompacted),
		},
		{
			name: "compaction in the future",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 100}})
			},
			check: wantErr(mvcc.ErrFutureRev),
		},
		{
			name: "alarm activate",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: m1.ID, Alarm: pb.AlarmType_NOSPACE}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				r := res.Resp.(*pb.AlarmResponse)
				if len(r.Alarms) != 1 || r.Alarms[0].MemberID != m1.ID || r.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
					t.Fatalf("alarms = %v", r.Alarms)
				}
				if !n.alarms.Has(pb.AlarmType_NOSPACE) {
					t.Fatal("NOSPACE not raised")
				}
			},
		},
		{
			name: "alarm activate corrupt on another member",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: 0x5, Alarm: pb.AlarmType_CORRUPT}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) { noErr(t, res) },
		},
		{
			name: "alarm get",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_GET}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				r := res.Resp.(*pb.AlarmResponse)
				want := []*pb.AlarmMember{{MemberID: 0x5, Alarm: pb.AlarmType_CORRUPT}, {MemberID: m1.ID, Alarm: pb.AlarmType_NOSPACE}}
				if !reflect.DeepEqual(r.Alarms, want) {
					t.Fatalf("alarms = %v, want %v", r.Alarms, want)
				}
			},
		},
		{
			name: "alarm deactivate",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: m1.ID, Alarm: pb.AlarmType_NOSPACE}})
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				if n.alarms.Has(pb.AlarmType_NOSPACE) {
					t.Fatal("NOSPACE still raised")
				}
				if !n.alarms.Has(pb.AlarmType_CORRUPT) {
					t.Fatal("deactivating NOSPACE of m1 cleared CORRUPT of member 5")
				}
			},
		},
		{
			name:  "add learner",
			entry: func(l *log, id uint64) raftnode.Entry { return l.conf(id, raftnode.ConfAddLearner, m2) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				if m, ok := n.members.Member(m2.ID); !ok || !m.IsLearner {
					t.Fatalf("learner = %+v, %v", m, ok)
				}
			},
		},
		{
			name:  "promote learner",
			entry: func(l *log, id uint64) raftnode.Entry { return l.conf(id, raftnode.ConfAddNode, m2) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				if m, _ := n.members.Member(m2.ID); m.IsLearner {
					t.Fatal("still a learner")
				}
			},
		},
		{
			name: "update peer URLs",
			entry: func(l *log, id uint64) raftnode.Entry {
				m := m2
				m.PeerURLs = []string{"http://m2-new:2380"}
				return l.conf(id, raftnode.ConfUpdateNode, m)
			},
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				if m, _ := n.members.Member(m2.ID); !reflect.DeepEqual(m.PeerURLs, []string{"http://m2-new:2380"}) || m.Name != "m2" {
					t.Fatalf("member = %+v", m)
				}
			},
		},
		{
			name:  "remove member",
			entry: func(l *log, id uint64) raftnode.Entry { return l.conf(id, raftnode.ConfRemoveNode, m2) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				noErr(t, res)
				if _, ok := n.members.Member(m2.ID); ok || !n.members.IsRemoved(m2.ID) {
					t.Fatal("m2 not removed")
				}
			},
		},
		{
			name: "unsupported request",
			entry: func(l *log, id uint64) raftnode.Entry {
				return l.req(id, &pb.InternalRaftRequest{AuthEnable: &pb.AuthEnableRequest{}})
			},
			check: wantErr(ErrUnsupported),
		},
		{
			name:  "request without an ID is applied, not delivered",
			entry: func(l *log, _ uint64) raftnode.Entry { return l.req(0, put("anon", "1", 0)) },
			check: func(t *testing.T, res *Result, evs []mvccpb.Event, n *node) {
				if res != nil {
					t.Fatal("a request without ID was delivered")
				}
				wantEvents(t, evs, "PUT anon@10;")
			},
		},
	}
}

// buildScenario returns the entries of the scenario and their request IDs
// (0 when nothing must be delivered).
func buildScenario(t *testing.T) ([]step, []raftnode.Entry, []uint64) {
	steps := scenario()
	l := &log{t: t, term: 2}
	var ents []raftnode.Entry
	var ids []uint64
	for i, s := range steps {
		id := uint64(1000 + i)
		e := s.entry(l, id)
		if e.Kind == raftnode.EntryNormal && len(e.Data) == 0 {
			id = 0
		}
		if s.name == "request without an ID is applied, not delivered" {
			id = 0
		}
		ents = append(ents, e)
		ids = append(ids, id)
	}
	return steps, ents, ids
}

func TestApplyScenario(t *testing.T) {
	n := newNode(t)
	steps, ents, ids := buildScenario(t)
	for i, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			before := len(n.delivered)
			evs := n.apply(ents[i])
			var res *Result
			if ids[i] != 0 {
				if r, ok := n.results[ids[i]]; ok {
					res = &r
				}
			}
			if got := len(n.delivered) - before; (ids[i] != 0 && got != 1) || (ids[i] == 0 && got != 0) {
				t.Fatalf("delivered %d results: %v", got, n.delivered[before:])
			}
			s.check(t, res, evs, n)
			if got := n.a.AppliedIndex(); got != ents[i].Index {
				t.Fatalf("AppliedIndex = %d, want %d", got, ents[i].Index)
			}
			if got := n.appliedOnDisk(); got != ents[i].Index {
				t.Fatalf("applied index on disk = %d, want %d", got, ents[i].Index)
			}
		})
		if !ok {
			t.FailNow()
		}
	}
	n.waitCompactions()

	// Everything survives a restart: the applied index, the members, the
	// alarms, the leases and the keys.
	n.restart()
	if got := n.a.AppliedIndex(); got != ents[len(ents)-1].Index {
		t.Fatalf("AppliedIndex after restart = %d, want %d", got, ents[len(ents)-1].Index)
	}
	if m, ok := n.members.Member(m1.ID); !ok || m.Name != "m1-published" {
		t.Fatalf("m1 after restart = %+v, %v", m, ok)
	}
	if !n.members.IsRemoved(m2.ID) {
		t.Fatal("m2 not removed after restart")
	}
	if n.alarms.Has(pb.AlarmType_NOSPACE) || !n.alarms.Has(pb.AlarmType_CORRUPT) {
		t.Fatalf("alarms after restart = %v", n.alarms.List(0, pb.AlarmType_NONE))
	}
	if got := n.lessor.IDs(); len(got) != 0 {
		t.Fatalf("leases after restart = %v, want none", got)
	}
	if n.kv.Rev() != 10 || n.get("anon") == nil || n.get("k1") != nil {
		t.Fatalf("kv after restart: rev %d", n.kv.Rev())
	}
}

// The applied index is written into the caller's batch, with the state it
// stands for: dropping the batch drops both.
func TestAppliedIndexInSameBatch(t *testing.T) {
	n := newNode(t)
	l := &log{t: t, term: 1}
	n.apply(l.req(1, put("a", "1", 0)))

	b := n.db.NewIndexedBatch()
	n.a.Apply(b, []raftnode.Entry{l.req(2, put("b", "2", 0))}, n.done)
	v, closer, err := b.Get(AppliedIndexKey())
	if err != nil {
		t.Fatalf("applied index not in the batch: %v", err)
	}
	if got := binary.BigEndian.Uint64(v); got != 2 {
		t.Fatalf("batch applied index = %d, want 2", got)
	}
	closer.Close()
	if got := n.appliedOnDisk(); got != 1 {
		t.Fatalf("applied index on disk before commit = %d, want 1", got)
	}
	// The crash: the batch is never committed.
	b.Close()
	n.kv.Discard()
	n.restart()
	if got := n.a.AppliedIndex(); got != 1 {
		t.Fatalf("AppliedIndex after a lost batch = %d, want 1", got)
	}
	if n.get("b") != nil {
		t.Fatal("the lost batch's put is visible")
	}
	// Raft re-delivers entry 2, which applies now.
	l2 := &log{t: t, term: 1, idx: 1}
	n.apply(l2.req(2, put("b", "2", 0)))
	if kv := n.get("b"); kv == nil || kv.ModRevision != 3 {
		t.Fatalf("b after replay = %v", kv)
	}
}

func TestApplyEmptyBatchWritesNothing(t *testing.T) {
	n := newNode(t)
	b := n.db.NewIndexedBatch()
	defer b.Close()
	if evs := n.a.Apply(b, nil, n.done); len(evs) != 0 {
		t.Fatalf("events from nothing: %v", evs)
	}
	if !b.Empty() {
		t.Fatal("applying no entries wrote to the batch")
	}
}

func TestReplayIsIdempotent(t *testing.T) {
	_, ents, ids := buildScenario(t)
	const applied = 12 // a crash after this many entries were committed

	// Reference: every entry applied once.
	ref := newNode(t)
	for _, e := range ents {
		ref.apply(e)
	}
	ref.waitCompactions()

	n := newNode(t)
	for _, e := range ents[:applied] {
		n.apply(e)
	}
	// Entries at or below the applied index are skipped in the same run...
	before := len(n.delivered)
	b := n.db.NewIndexedBatch()
	if evs := n.a.Apply(b, ents[:applied], n.done); len(evs) != 0 {
		t.Fatalf("re-applied entries produced events: %s", evTypes(evs))
	}
	if !b.Empty() {
		t.Fatal("re-applied entries wrote to the batch")
	}
	b.Close()
	if len(n.delivered) != before {
		t.Fatalf("re-applied entries delivered results: %v", n.delivered[before:])
	}

	// ...and after a restart, where raft hands back the whole log.
	n.waitCompactions()
	n.restart()
	evs := n.apply(ents...)
	var wantIDs []uint64
	for _, id := range ids[applied:] {
		if id != 0 {
			wantIDs = append(wantIDs, id)
		}
	}
	if !reflect.DeepEqual(n.delivered, wantIDs) {
		t.Fatalf("delivered after replay = %v, want only %v", n.delivered, wantIDs)
	}
	for _, e := range evs {
		if e.Kv.ModRevision <= 6 {
			t.Fatalf("replay produced an event of an already applied revision: %s", evTypes(evs))
		}
	}
	if len(n.empties) != 0 {
		t.Fatalf("replay re-ran the empty entry: %v", n.empties)
	}
	n.waitCompactions()
	sameState(t, "replayed vs applied once", ref.db, n.db)
}

func TestDeterminism(t *testing.T) {
	_, ents, _ := buildScenario(t)
	splits := []struct {
		name string
		size int // entries per batch
	}{
		{"one entry per batch", 1},
		{"three per batch", 3},
		{"all in one batch", len(ents)},
	}
	var nodes []*node
	var resps []map[uint64]Result
	for _, sp := range splits {
		n := newNode(t)
		for i := 0; i < len(ents); i += sp.size {
			end := min(i+sp.size, len(ents))
			n.apply(ents[i:end]...)
		}
		n.waitCompactions()
		nodes = append(nodes, n)
		resps = append(resps, n.results)
	}
	for i := 1; i < len(nodes); i++ {
		sameState(t, splits[0].name+" vs "+splits[i].name, nodes[0].db, nodes[i].db)
		for id, r0 := range resps[0] {
			ri := resps[i][id]
			if !reflect.DeepEqual(r0.Resp, ri.Resp) || fmt.Sprint(r0.Err) != fmt.Sprint(ri.Err) {
				t.Fatalf("%s: request %d answered %v/%v, vs %v/%v", splits[i].name, id, ri.Resp, ri.Err, r0.Resp, r0.Err)
			}
		}
		if len(resps[0]) != len(resps[i]) {
			t.Fatalf("%s delivered %d results, vs %d", splits[i].name, len(resps[i]), len(resps[0]))
		}
	}
}

// Several changes in one batch see each other: a lease granted, attached
// and revoked within one batch deletes its keys.
func TestOneBatchSeesItsOwnWrites(t *testing.T) {
	n := newNode(t)
	l := &log{t: t, term: 1}
	evs := n.apply(
		l.req(1, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 3, TTL: 10}}),
		l.req(2, put("x", "1", 3)),
		l.req(3, put("y", "1", 3)),
		l.req(4, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 3}}),
	)
	wantEvents(t, evs, "PUT x@2;PUT y@3;DELETE x@4;DELETE y@4;")
	if n.get("x") != nil || n.get("y") != nil || n.lessor.Exists(3) {
		t.Fatal("revoke in the same batch missed the keys")
	}
	header(t, n.results[4].Resp.(*pb.LeaseRevokeResponse), 4)
}
