package mvcc

import (
	"errors"
	"reflect"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestEvents(t *testing.T) {
	e := newEnv(t)
	e.put("a", "1")                                // 2
	e.txn(&pb.TxnRequest{Success: []*pb.RequestOp{ // 3
		opPut(&pb.PutRequest{Key: []byte("b"), Value: []byte("1")}),
		opPut(&pb.PutRequest{Key: []byte("c"), Value: []byte("1")}),
		opPut(&pb.PutRequest{Key: []byte("a"), Value: []byte("2")}),
	}})
	e.del("a", "")  // 4
	e.put("z", "1") // 5
	put := func(k string, c, m, v int64, val string) mvccpb.Event {
		return mvccpb.Event{Type: mvccpb.PUT, Kv: kv(k, c, m, v, val, 0)}
	}
	delA := mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte("a"), ModRevision: 4}}
	for _, tc := range []struct {
		name     string
		start    int64
		key, end string
		limit    int
		want     []mvccpb.Event
		next     int64
	}{
		{"all", 0, "\x00", "\x00", 0, []mvccpb.Event{put("a", 2, 2, 1, "1"), put("b", 3, 3, 1, "1"), put("c", 3, 3, 1, "1"),
			put("a", 2, 3, 2, "2"), delA, put("z", 5, 5, 1, "1")}, 6},
		{"one key", 2, "a", "", 0, []mvccpb.Event{put("a", 2, 2, 1, "1"), put("a", 2, 3, 2, "2"), delA}, 6},
		{"range", 3, "b", "d", 0, []mvccpb.Event{put("b", 3, 3, 1, "1"), put("c", 3, 3, 1, "1")}, 6},
		{"limit 1 keeps revision 2 whole", 2, "\x00", "\x00", 1, []mvccpb.Event{put("a", 2, 2, 1, "1")}, 3},
		{"limit 2 does not split revision 3", 3, "\x00", "\x00", 2, []mvccpb.Event{put("b", 3, 3, 1, "1"), put("c", 3, 3, 1, "1"),
			put("a", 2, 3, 2, "2")}, 4},
		{"from the future", 9, "a", "", 0, nil, 9},
		{"from next", 6, "a", "", 0, nil, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.s.Read()
			defer r.Close()
			evs, next, err := r.Events(tc.start, []byte(tc.key), []byte(tc.end), tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(evs, tc.want) || next != tc.next {
				t.Fatalf("got %v next %d\nwant %v next %d", evs, next, tc.want, tc.next)
			}
		})
	}
	if err := e.compact(3, false); err != nil {
		t.Fatal(err)
	}
	r := e.s.Read()
	defer r.Close()
	if _, _, err := r.Events(2, []byte("a"), nil, 0); !errors.Is(err, ErrCompacted) {
		t.Fatalf("events below compaction: %v", err)
	}
	if evs, _, err := r.Events(3, []byte("a"), nil, 0); err != nil || len(evs) != 2 {
		t.Fatalf("events at compaction: %v %v", evs, err)
	}
}
