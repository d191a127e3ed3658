package lockpb

import (
	"bytes"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
)

// The hand-declared messages must produce exactly the wire bytes the field
// numbers in etcd's v3lock.proto / v3election.proto define.
func TestWireFormat(t *testing.T) {
	m := &LockRequest{Name: []byte("n"), Lease: 7}
	got, err := proto.Marshal(protoadapt.MessageV2Of(m))
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = protowire.AppendTag(want, 1, protowire.BytesType)
	want = protowire.AppendBytes(want, []byte("n"))
	want = protowire.AppendTag(want, 2, protowire.VarintType)
	want = protowire.AppendVarint(want, 7)
	if !bytes.Equal(got, want) {
		t.Fatalf("LockRequest wire: got %x want %x", got, want)
	}
	resp := &CampaignResponse{Header: &pb.ResponseHeader{Revision: 3}, Leader: &LeaderKey{Name: []byte("e"), Key: []byte("e/1"), Rev: 3, Lease: 9}}
	b, err := proto.Marshal(protoadapt.MessageV2Of(resp))
	if err != nil {
		t.Fatal(err)
	}
	var back CampaignResponse
	if err := proto.Unmarshal(b, protoadapt.MessageV2Of(&back)); err != nil {
		t.Fatal(err)
	}
	if back.Header.Revision != 3 || string(back.Leader.Key) != "e/1" || back.Leader.Lease != 9 || back.Leader.Rev != 3 {
		t.Fatalf("round trip: %+v", back)
	}
}
