package mvcc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// rawGet reads one pebble value, nil if absent.
func (e *testEnv) rawGet(k []byte) []byte {
	e.t.Helper()
	v, err := get(e.db, k)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// A value of refMinValue bytes or more is written once as state: "c" holds
// a reference to "k", and every read resolves it.
func TestLargeValueHeldByReference(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("b", refMinValue)
	small := strings.Repeat("s", refMinValue-1)
	e.put("big", big)     // rev 2
	e.put("small", small) // rev 3

	if c := e.rawGet(currentKey([]byte("big"))); len(c) >= 32 || c[0] != kindPutRef {
		t.Fatalf(`"c" of a %d-byte value is %d bytes (kind %d), want a reference`, len(big), len(c), c[0])
	}
	if k := e.rawGet(versionKey([]byte("big"), 2)); !bytes.HasSuffix(k, []byte(big)) {
		t.Fatalf(`"k" of big at 2 does not hold the value`)
	}
	if c := e.rawGet(currentKey([]byte("small"))); c[0] != kindPut || !bytes.HasSuffix(c, []byte(small)) {
		t.Fatalf(`"c" of a %d-byte value is not inline`, len(small))
	}

	check := func(what string, req *pb.RangeRequest, want ...string) {
		t.Helper()
		resp, err := e.rng(req)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var got []string
		for _, kv := range resp.Kvs {
			got = append(got, string(kv.Key)+"="+string(kv.Value))
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: got %.60q, want %.60q", what, got, want)
		}
	}
	check("get big", &pb.RangeRequest{Key: []byte("big")}, "big="+big)
	check("range all", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, "big="+big, "small="+small)
	check("range at 2", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 2}, "big="+big)
	check("keys only", &pb.RangeRequest{Key: []byte("big"), KeysOnly: true}, "big=")
	check("sort by value", &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0},
		SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND}, "small="+small, "big="+big)

	// A txn comparing the large value, then overwriting it with prev_kv.
	var tr *pb.TxnResponse
	if _, err := e.apply(func(w *WriteTxn) (err error) {
		tr, err = w.Txn(&pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte("big"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
				TargetUnion: &pb.Compare_Value{Value: []byte(big)}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{
				Key: []byte("big"), Value: []byte(big + "2"), PrevKv: true}}}},
		})
		return err
	}); err != nil || !tr.Succeeded {
		t.Fatalf("txn: %v, %v", tr, err)
	}
	if prev := tr.Responses[0].GetResponsePut().PrevKv; prev == nil || string(prev.Value) != big || prev.ModRevision != 2 {
		t.Fatalf("prev_kv = %.60v, want big at 2", prev)
	}
	// rev 4 now: big has version 2; the hot cache is gone after a reopen,
	// so the next put reads the previous version through the reference.
	e.reopen()
	pr := e.mustPut(&pb.PutRequest{Key: []byte("big"), Value: []byte("tiny"), PrevKv: true}) // rev 5
	if pr.PrevKv == nil || string(pr.PrevKv.Value) != big+"2" || pr.PrevKv.Version != 2 || pr.PrevKv.CreateRevision != 2 {
		t.Fatalf("prev_kv after reopen = %.60v", pr.PrevKv)
	}
	check("get tiny", &pb.RangeRequest{Key: []byte("big")}, "big=tiny")
	check("big at 4", &pb.RangeRequest{Key: []byte("big"), Revision: 4}, "big="+big+"2")
	e.put("big", big+"3") // rev 6

	// Compaction at the current revision keeps what "c" refers to.
	if err := e.compact(6, true); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	check("get after compaction", &pb.RangeRequest{Key: []byte("big")}, "big="+big+"3")
	var del *pb.DeleteRangeResponse
	if _, err := e.apply(func(w *WriteTxn) (err error) {
		del, err = w.DeleteRange(&pb.DeleteRangeRequest{Key: []byte("big"), PrevKv: true})
		return err
	}); err != nil || len(del.PrevKvs) != 1 || string(del.PrevKvs[0].Value) != big+"3" {
		t.Fatalf("delete with prev_kv: %v, %v", del, err)
	}
	if c := e.rawGet(currentKey([]byte("big"))); c != nil {
		t.Fatalf(`"c" of a deleted key is still there`)
	}
}

// A reference whose "k" entry is gone is reported as corruption, not as an
// empty value.
func TestDanglingReferenceIsCorrupt(t *testing.T) {
	e := newEnv(t)
	e.put("big", strings.Repeat("b", refMinValue)) // rev 2
	if err := e.db.Delete(versionKey([]byte("big"), 2), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if _, err := e.rng(&pb.RangeRequest{Key: []byte("big")}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("get of a dangling reference: %v, want ErrCorrupt", err)
	}
}

// A format 1 store (every value inline) opens and is marked format 2.
func TestFormat1Upgrades(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1")
	e.close()
	e.open()
	e.s.Close()
	e.s = nil
	if err := e.db.Set(metaFormat, encodeInt64(1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(e.db, e.cfg)
	if err != nil {
		t.Fatalf("NewStore on format 1: %v", err)
	}
	e.s = s
	if v, _ := getInt64(e.db, metaFormat, 0); v != formatVersion {
		t.Fatalf("format after opening a format 1 store: %d, want %d", v, formatVersion)
	}
	resp, err := e.rng(&pb.RangeRequest{Key: []byte("a")})
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "1" {
		t.Fatalf("get a: %v, %v", resp, err)
	}
}
