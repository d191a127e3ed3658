package e2e

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The header of every KV response names this cluster and member.
func TestHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	g, err := e.cli.Get(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "get on a new store", g.Header, 1)
	p, err := e.cli.Put(e.ctx, "a", "1")
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "put", p.Header, 2)
	g, err = e.cli.Get(e.ctx, "a", clientv3.WithSerializable())
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "serializable get", g.Header, 2)
	if g.Header.RaftTerm != p.Header.RaftTerm {
		t.Errorf("raft_term changed from %d to %d on a stable member", p.Header.RaftTerm, g.Header.RaftTerm)
	}
	d, err := e.cli.Delete(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "delete", d.Header, 3)
	tx, err := e.cli.Txn(e.ctx).Then(clientv3.OpGet("a")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "txn", tx.Header, 3)
	c, err := e.cli.Compact(e.ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "compact", c.Header, 3)
	st, err := e.cli.Status(e.ctx, e.m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "status", st.Header, 3)
	ml, err := e.cli.MemberList(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Cluster RPCs do not touch the KV store; their header has no revision.
	e.checkHeader(t, "member list", ml.Header, 0)
}

func TestPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	p, err := e.cli.Put(e.ctx, "a", "1", clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if p.PrevKv != nil {
		t.Errorf("prev_kv of a new key = %v, want none", p.PrevKv)
	}
	e.checkHeader(t, "first put", p.Header, 2)

	p, err = e.cli.Put(e.ctx, "a", "2")
	if err != nil {
		t.Fatal(err)
	}
	if p.PrevKv != nil || p.Header.Revision != 3 {
		t.Errorf("put without prev_kv: prev_kv %v revision %d, want none 3", p.PrevKv, p.Header.Revision)
	}
	p, err = e.cli.Put(e.ctx, "a", "3", clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "prev_kv", []*mvccpb.KeyValue{p.PrevKv}, []*mvccpb.KeyValue{kv("a", "2", 2, 3, 2)})
	e.checkHeader(t, "third put", p.Header, 4)

	g, err := e.cli.Get(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "after three puts", g.Kvs, []*mvccpb.KeyValue{kv("a", "3", 2, 4, 3)})

	// ignore_value keeps the value and still writes a new version.
	p, err = e.cli.Put(e.ctx, "a", "", clientv3.WithIgnoreValue(), clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "ignore_value prev_kv", []*mvccpb.KeyValue{p.PrevKv}, []*mvccpb.KeyValue{kv("a", "3", 2, 4, 3)})
	e.checkHeader(t, "ignore_value put", p.Header, 5)
	// ignore_lease keeps the (absent) lease.
	if _, err = e.cli.Put(e.ctx, "a", "4", clientv3.WithIgnoreLease()); err != nil {
		t.Fatal(err)
	}
	g, err = e.cli.Get(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "after ignore_value and ignore_lease", g.Kvs, []*mvccpb.KeyValue{kv("a", "4", 2, 6, 5)})

	// Empty values and binary keys and values round-trip.
	e.put(t, "empty", "", 7)
	bin := "\x00\xff\x01bin"
	e.put(t, bin, "\x00\x00\xfe", 8)
	g, err = e.cli.Get(e.ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "all", g.Kvs, []*mvccpb.KeyValue{kv(bin, "\x00\x00\xfe", 8, 8, 1), kv("a", "4", 2, 6, 5), kv("empty", "", 7, 7, 1)})

	// Errors, none of which writes.
	_, err = e.cli.Put(e.ctx, "", "v")
	wantErr(t, err, rpctypes.ErrGRPCEmptyKey)
	_, err = e.kv.Put(e.ctx, &pb.PutRequest{Key: []byte("a"), Value: []byte("x"), IgnoreValue: true})
	wantErr(t, err, rpctypes.ErrGRPCValueProvided)
	_, err = e.kv.Put(e.ctx, &pb.PutRequest{Key: []byte("a"), Lease: 1, IgnoreLease: true})
	wantErr(t, err, rpctypes.ErrGRPCLeaseProvided)
	_, err = e.cli.Put(e.ctx, "missing", "", clientv3.WithIgnoreValue())
	wantErr(t, err, rpctypes.ErrGRPCKeyNotFound)
	_, err = e.cli.Put(e.ctx, "missing", "v", clientv3.WithIgnoreLease())
	wantErr(t, err, rpctypes.ErrGRPCKeyNotFound)
	if got := e.rev(t); got != 8 {
		t.Errorf("revision %d after failed puts, want 8", got)
	}
}

// No lease exists yet, so any non-zero lease is unknown. This test changes
// when leases land.
func TestPutUnknownLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, "a", "1", 2)

	_, err := e.cli.Put(e.ctx, "a", "2", clientv3.WithLease(12345))
	wantErr(t, err, rpctypes.ErrGRPCLeaseNotFound)
	_, err = e.cli.Put(e.ctx, "new", "2", clientv3.WithLease(0x7fffffffffffffff))
	wantErr(t, err, rpctypes.ErrGRPCLeaseNotFound)
	_, err = e.cli.Txn(e.ctx).Then(clientv3.OpPut("b", "1", clientv3.WithLease(12345))).Commit()
	wantErr(t, err, rpctypes.ErrGRPCLeaseNotFound)
	_, err = e.cli.Txn(e.ctx).If(clientv3.Compare(clientv3.Value("a"), "=", "nope")).
		Else(clientv3.OpPut("b", "1", clientv3.WithLease(12345))).Commit()
	wantErr(t, err, rpctypes.ErrGRPCLeaseNotFound)
	// Only the branch taken is checked.
	tx, err := e.cli.Txn(e.ctx).If(clientv3.Compare(clientv3.Value("a"), "=", "1")).
		Then(clientv3.OpPut("b", "1")).Else(clientv3.OpPut("c", "1", clientv3.WithLease(12345))).Commit()
	if err != nil {
		t.Fatal(err)
	}
	e.checkHeader(t, "txn with an unknown lease in the branch not taken", tx.Header, 3)

	g, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "after lease errors", g.Kvs, []*mvccpb.KeyValue{kv("a", "1", 2, 2, 1), kv("b", "1", 3, 3, 1)})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, k := range []string{"a", "b", "c", "d/1", "d/2", "e"} {
		e.put(t, k, "v"+k, int64(i+2))
	}

	d, err := e.cli.Delete(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if d.Deleted != 1 || d.PrevKvs != nil {
		t.Errorf("delete a: deleted %d prev_kvs %v, want 1 none", d.Deleted, d.PrevKvs)
	}
	e.checkHeader(t, "delete a", d.Header, 8)

	// Deleting nothing does not bump the revision.
	d, err = e.cli.Delete(e.ctx, "a", clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if d.Deleted != 0 || len(d.PrevKvs) != 0 {
		t.Errorf("delete a again: deleted %d prev_kvs %v, want 0 none", d.Deleted, d.PrevKvs)
	}
	e.checkHeader(t, "delete a again", d.Header, 8)

	d, err = e.cli.Delete(e.ctx, "b", clientv3.WithRange("d"), clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if d.Deleted != 2 {
		t.Errorf("delete [b, d): deleted %d, want 2", d.Deleted)
	}
	checkKVs(t, "delete [b, d) prev_kvs", d.PrevKvs, []*mvccpb.KeyValue{kv("b", "vb", 3, 3, 1), kv("c", "vc", 4, 4, 1)})
	e.checkHeader(t, "delete [b, d)", d.Header, 9)

	d, err = e.cli.Delete(e.ctx, "d/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if d.Deleted != 2 {
		t.Errorf("delete prefix d/: deleted %d, want 2", d.Deleted)
	}
	e.checkHeader(t, "delete prefix d/", d.Header, 10)

	d, err = e.cli.Delete(e.ctx, "x", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if d.Deleted != 0 {
		t.Errorf("delete prefix x: deleted %d, want 0", d.Deleted)
	}
	e.checkHeader(t, "delete of an empty range", d.Header, 10)

	g, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "after deletes", g.Kvs, []*mvccpb.KeyValue{kv("e", "ve", 7, 7, 1)})

	// History still holds the deleted keys; a multi-key delete is one
	// revision.
	g, err = e.cli.Get(e.ctx, "", clientv3.WithPrefix(), clientv3.WithRev(8), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(g.Kvs); len(got) != 5 || got[0] != "b" {
		t.Errorf("keys at revision 8: %q, want b c d/1 d/2 e", got)
	}
	g, err = e.cli.Get(e.ctx, "b", clientv3.WithRange("d"), clientv3.WithRev(9))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Kvs) != 0 {
		t.Errorf("[b, d) at revision 9: %s, want nothing", fmtKVs(g.Kvs))
	}

	// A deleted key comes back as a new key.
	e.put(t, "a", "again", 11)
	g, err = e.cli.Get(e.ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	checkKVs(t, "a recreated", g.Kvs, []*mvccpb.KeyValue{kv("a", "again", 11, 11, 1)})

	// Delete everything, through the raw API.
	rd, err := e.kv.DeleteRange(e.ctx, &pb.DeleteRangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, PrevKv: true})
	if err != nil {
		t.Fatal(err)
	}
	if rd.Deleted != 2 {
		t.Errorf("delete all: deleted %d, want 2", rd.Deleted)
	}
	checkKVs(t, "delete all prev_kvs", rd.PrevKvs, []*mvccpb.KeyValue{kv("a", "again", 11, 11, 1), kv("e", "ve", 7, 7, 1)})
	e.checkHeader(t, "delete all", rd.Header, 12)

	_, err = e.cli.Delete(e.ctx, "")
	wantErr(t, err, rpctypes.ErrGRPCEmptyKey)
	_, err = e.kv.DeleteRange(e.ctx, &pb.DeleteRangeRequest{RangeEnd: []byte("z")})
	wantErr(t, err, rpctypes.ErrGRPCEmptyKey)
	if got := e.rev(t); got != 12 {
		t.Errorf("revision %d, want 12", got)
	}
}
