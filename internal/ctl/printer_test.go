package ctl

import (
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func printer(t *testing.T, format string, hex bool) (*Printer, *strings.Builder, *strings.Builder) {
	t.Helper()
	var out, errOut strings.Builder
	p, err := NewPrinter(format, hex, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	return p, &out, &errOut
}

var hdr = &pb.ResponseHeader{ClusterId: 324952591200643719, MemberId: 3319814642761637952, Revision: 3, RaftTerm: 2}

func getResp() *clientv3.GetResponse {
	return &clientv3.GetResponse{Header: hdr, Count: 1, Kvs: []*mvccpb.KeyValue{
		{Key: []byte("foo"), Value: []byte("bar"), CreateRevision: 2, ModRevision: 2, Version: 1},
	}}
}

func TestPrinterGet(t *testing.T) {
	for _, c := range []struct {
		format    string
		hex       bool
		valueOnly bool
		want      string
	}{
		{FormatSimple, false, false, "foo\nbar\n"},
		{FormatSimple, false, true, "bar\n"},
		{FormatSimple, true, false, `\x66\x6f\x6f` + "\n" + `\x62\x61\x72` + "\n"},
		{FormatJSON, false, false, `{"header":{"cluster_id":324952591200643719,"member_id":3319814642761637952,"revision":3,"raft_term":2},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":2,"version":1,"value":"YmFy"}],"count":1}` + "\n"},
		{FormatFields, false, false, `"ClusterID" : 324952591200643719
"MemberID" : 3319814642761637952
"Revision" : 3
"RaftTerm" : 2
"Key" : "foo"
"CreateRevision" : 2
"ModRevision" : 2
"Version" : 1
"Value" : "bar"
"Lease" : 0
"More" : false
"Count" : 1
`},
		{FormatFields, true, false, `"ClusterID" : 48276a8f75b6a87
"MemberID" : 2e1259d415f2a040
"Revision" : 3
"RaftTerm" : 2
"Key" : "foo"
"CreateRevision" : 2
"ModRevision" : 2
"Version" : 1
"Value" : "bar"
"Lease" : 0000000000000000
"More" : false
"Count" : 1
`},
	} {
		p, out, _ := printer(t, c.format, c.hex)
		p.ValueOnly = c.valueOnly
		if err := p.Get(getResp()); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("%s hex=%v: got\n%s\nwant\n%s", c.format, c.hex, out, c.want)
		}
	}
	p, out, _ := printer(t, FormatTable, false)
	if err := p.Get(getResp()); CodeOf(err) != ExitBadFeature || err.Error() != "table not supported as output format" || out.Len() != 0 {
		t.Errorf("table: %v", err)
	}
	p, out, _ = printer(t, FormatProtobuf, false)
	p.Get(getResp())
	var back pb.RangeResponse
	if err := back.Unmarshal([]byte(out.String())); err != nil || string(back.Kvs[0].Key) != "foo" {
		t.Errorf("protobuf round trip: %v %+v", err, back)
	}
	if _, err := NewPrinter("yaml", false, out, out); CodeOf(err) != ExitBadFeature || err.Error() != "unsupported output format" {
		t.Errorf("unknown format: %v", err)
	}
}

func TestPrinterTxn(t *testing.T) {
	resp := &clientv3.TxnResponse{Header: hdr, Succeeded: false, Responses: []*pb.ResponseOp{
		{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: 3},
			Kvs: []*mvccpb.KeyValue{{Key: []byte("/config/api/lock"), Value: []byte("acquired")}}, Count: 1}}},
		{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 3}}}},
		{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{Revision: 3}, Deleted: 2}}},
	}}
	p, out, _ := printer(t, FormatSimple, false)
	p.Txn(resp)
	if want := "FAILURE\n\n/config/api/lock\nacquired\n\nOK\n\n2\n"; out.String() != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestPrinterLeases(t *testing.T) {
	p, out, _ := printer(t, FormatSimple, false)
	p.Grant(&clientv3.LeaseGrantResponse{ResponseHeader: hdr, ID: 0x2040a2149a717d06, TTL: 100})
	p.Revoke(0x2040a2149a717d06, &clientv3.LeaseRevokeResponse{Header: hdr})
	p.KeepAlive(&clientv3.LeaseKeepAliveResponse{ResponseHeader: hdr, ID: 0x2040a2149a717d06, TTL: 100})
	p.TimeToLive(&clientv3.LeaseTimeToLiveResponse{ResponseHeader: hdr, ID: 0x2040a2149a717d06, TTL: 98, GrantedTTL: 100,
		Keys: [][]byte{[]byte("k2"), []byte("k1")}}, true)
	p.TimeToLive(&clientv3.LeaseTimeToLiveResponse{ResponseHeader: hdr, ID: 0x2040a2149a717d06, TTL: -1}, false)
	p.Leases(&clientv3.LeaseLeasesResponse{ResponseHeader: hdr, Leases: []clientv3.LeaseStatus{{ID: 0x2040a2149a717d06}}})
	want := `lease 2040a2149a717d06 granted with TTL(100s)
lease 2040a2149a717d06 revoked
lease 2040a2149a717d06 keepalived with TTL(100)
lease 2040a2149a717d06 granted with TTL(100s), remaining(98s), attached keys([k2 k1])
lease 2040a2149a717d06 already expired
found 1 leases
2040a2149a717d06
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestPrinterMembers(t *testing.T) {
	members := []*pb.Member{
		{ID: 0x2e1259d415f2a040, Name: "default", PeerURLs: []string{"http://127.0.0.1:23800"}, ClientURLs: []string{"http://127.0.0.1:23790"}},
		{ID: 0x96480e7cf14f1694, PeerURLs: []string{"http://127.0.0.1:29999"}, IsLearner: true},
	}
	p, out, _ := printer(t, FormatSimple, false)
	p.MemberList(&clientv3.MemberListResponse{Header: hdr, Members: members})
	p.MemberAdd(&clientv3.MemberAddResponse{Header: hdr, Member: members[1], Members: members})
	p.MemberRemove(0x96480e7cf14f1694, &clientv3.MemberRemoveResponse{Header: hdr})
	p.MoveLeader(0x2e1259d415f2a040, 0x96480e7cf14f1694, &clientv3.MoveLeaderResponse{Header: hdr})
	want := `2e1259d415f2a040, started, default, http://127.0.0.1:23800, http://127.0.0.1:23790, false
96480e7cf14f1694, unstarted, , http://127.0.0.1:29999, , true
Member 96480e7cf14f1694 added as learner to cluster  48276a8f75b6a87
Member 96480e7cf14f1694 removed from cluster  48276a8f75b6a87
Leadership transferred from 2e1259d415f2a040 to 96480e7cf14f1694
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	p, out, _ = printer(t, FormatJSON, true)
	p.MemberList(&clientv3.MemberListResponse{Header: hdr, Members: members[:1]})
	wantJSON := `{"header":{"cluster_id":"48276a8f75b6a87","member_id":"2e1259d415f2a040","revision":3,"raft_term":2},"members":[{"ID":"2e1259d415f2a040","name":"default","peerURLs":["http://127.0.0.1:23800"],"clientURLs":["http://127.0.0.1:23790"]}]}` + "\n"
	if out.String() != wantJSON {
		t.Errorf("json --hex: got\n%s\nwant\n%s", out, wantJSON)
	}
}

func TestPrinterEndpointHealth(t *testing.T) {
	p, out, errOut := printer(t, FormatSimple, false)
	p.EndpointHealth([]EpHealth{
		{Ep: "127.0.0.1:2379", Health: true, Took: "2.1ms"},
		{Ep: "127.0.0.1:1", Error: "cannot connect"},
	})
	if want := "127.0.0.1:2379 is healthy: successfully committed proposal: took = 2.1ms\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if want := "127.0.0.1:1 is unhealthy: failed to commit proposal: cannot connect\n"; errOut.String() != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	p, out, _ = printer(t, FormatJSON, false)
	p.EndpointHealth([]EpHealth{{Ep: "127.0.0.1:2379", Health: true, Took: "2.1ms"}})
	if want := `[{"endpoint":"127.0.0.1:2379","health":true,"took":"2.1ms"}]` + "\n"; out.String() != want {
		t.Errorf("json %q, want %q", out, want)
	}
}

func TestPrinterEndpointStatus(t *testing.T) {
	st := []EpStatus{{Ep: "127.0.0.1:2379", Resp: &clientv3.StatusResponse{Header: hdr, Version: "3.6.0", StorageVersion: "3.6.0",
		DbSize: 24576, DbSizeInUse: 12288, DbSizeQuota: 2147483648, Leader: 3319814642761637952, RaftIndex: 8, RaftTerm: 2, RaftAppliedIndex: 8}}}
	p, out, _ := printer(t, FormatSimple, false)
	p.EndpointStatus(st)
	if want := "127.0.0.1:2379, 2e1259d415f2a040, 3.6.0, 3.6.0, 25 kB, 12 kB, 50%, 2.1 GB, true, false, 2, 8, 8, , , false\n"; out.String() != want {
		t.Errorf("got %q, want %q", out, want)
	}
	// A zero database size must not divide by zero.
	st[0].Resp.DbSize = 0
	p, _, _ = printer(t, FormatTable, false)
	if err := p.EndpointStatus(st); err != nil {
		t.Fatal(err)
	}
}
