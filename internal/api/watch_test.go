package api

import (
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

func TestSendFragments(t *testing.T) {
	ev := func(i int, size int) *mvccpb.Event {
		return &mvccpb.Event{Kv: &mvccpb.KeyValue{Key: []byte{byte('a' + i%26)}, Value: []byte(strings.Repeat("x", size)), ModRevision: int64(i + 2)}}
	}
	hdr := &pb.ResponseHeader{Revision: 100}
	for _, tc := range []struct {
		name   string
		sizes  []int
		limit  int
		pieces int
	}{
		{"small: whole", []int{10, 10, 10}, 1000, 1},
		{"one big event: whole", []int{5000}, 1000, 1},
		{"split", []int{400, 400, 400, 400, 400}, 1000, 3},
		{"a big event alone", []int{100, 5000, 100}, 1000, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wr := &pb.WatchResponse{Header: hdr, WatchId: 7}
			for i, s := range tc.sizes {
				wr.Events = append(wr.Events, ev(i, s))
			}
			var got []*pb.WatchResponse
			if err := sendFragments(wr, tc.limit, func(r *pb.WatchResponse) error { got = append(got, r); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.pieces {
				t.Fatalf("%d pieces, want %d", len(got), tc.pieces)
			}
			var evs []*mvccpb.Event
			for i, r := range got {
				if r.WatchId != 7 || r.Header != hdr {
					t.Errorf("piece %d lost the id or header", i)
				}
				if want := i < len(got)-1; r.Fragment != want {
					t.Errorf("piece %d: fragment %v, want %v", i, r.Fragment, want)
				}
				if len(r.Events) > 1 && r.Size() >= tc.limit {
					t.Errorf("piece %d: %d bytes with %d events, limit %d", i, r.Size(), len(r.Events), tc.limit)
				}
				evs = append(evs, r.Events...)
			}
			if len(evs) != len(tc.sizes) {
				t.Fatalf("%d events after joining, want %d", len(evs), len(tc.sizes))
			}
			for i := range evs {
				if evs[i] != wr.Events[i] {
					t.Fatalf("event %d out of place", i)
				}
			}
		})
	}
}
