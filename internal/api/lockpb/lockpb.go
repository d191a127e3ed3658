// Package lockpb holds the messages of etcd's v3election and v3lock gRPC
// services. etcd generates them inside its server module, which Cairn must
// not import, so they are declared here by hand with the same field numbers
// and types (see etcd's v3election.proto and v3lock.proto); the protobuf
// runtime marshals them from their struct tags.
package lockpb

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// CampaignRequest asks to become leader of election Name.
type CampaignRequest struct {
	Name  []byte `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Lease int64  `protobuf:"varint,2,opt,name=lease,proto3" json:"lease,omitempty"`
	Value []byte `protobuf:"bytes,3,opt,name=value,proto3" json:"value,omitempty"`
}

// CampaignResponse carries the leader key once elected.
type CampaignResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
	Leader *LeaderKey         `protobuf:"bytes,2,opt,name=leader,proto3" json:"leader,omitempty"`
}

// LeaderKey identifies a leadership.
type LeaderKey struct {
	Name  []byte `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Key   []byte `protobuf:"bytes,2,opt,name=key,proto3" json:"key,omitempty"`
	Rev   int64  `protobuf:"varint,3,opt,name=rev,proto3" json:"rev,omitempty"`
	Lease int64  `protobuf:"varint,4,opt,name=lease,proto3" json:"lease,omitempty"`
}

// LeaderRequest names an election.
type LeaderRequest struct {
	Name []byte `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
}

// LeaderResponse carries the leader's key-value.
type LeaderResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
	Kv     *mvccpb.KeyValue   `protobuf:"bytes,2,opt,name=kv,proto3" json:"kv,omitempty"`
}

// ResignRequest gives up a leadership.
type ResignRequest struct {
	Leader *LeaderKey `protobuf:"bytes,1,opt,name=leader,proto3" json:"leader,omitempty"`
}

// ResignResponse answers ResignRequest.
type ResignResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
}

// ProclaimRequest updates the leader's value.
type ProclaimRequest struct {
	Leader *LeaderKey `protobuf:"bytes,1,opt,name=leader,proto3" json:"leader,omitempty"`
	Value  []byte     `protobuf:"bytes,2,opt,name=value,proto3" json:"value,omitempty"`
}

// ProclaimResponse answers ProclaimRequest.
type ProclaimResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
}

// LockRequest asks for lock Name, held with Lease.
type LockRequest struct {
	Name  []byte `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Lease int64  `protobuf:"varint,2,opt,name=lease,proto3" json:"lease,omitempty"`
}

// LockResponse carries the key that holds the lock.
type LockResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
	Key    []byte             `protobuf:"bytes,2,opt,name=key,proto3" json:"key,omitempty"`
}

// UnlockRequest releases the lock held by Key.
type UnlockRequest struct {
	Key []byte `protobuf:"bytes,1,opt,name=key,proto3" json:"key,omitempty"`
}

// UnlockResponse answers UnlockRequest.
type UnlockResponse struct {
	Header *pb.ResponseHeader `protobuf:"bytes,1,opt,name=header,proto3" json:"header,omitempty"`
}

func (m *CampaignRequest) Reset()         { *m = CampaignRequest{} }
func (m *CampaignRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*CampaignRequest) ProtoMessage()    {}

func (m *CampaignResponse) Reset()         { *m = CampaignResponse{} }
func (m *CampaignResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*CampaignResponse) ProtoMessage()    {}

func (m *LeaderKey) Reset()         { *m = LeaderKey{} }
func (m *LeaderKey) String() string { return fmt.Sprintf("%+v", *m) }
func (*LeaderKey) ProtoMessage()    {}

func (m *LeaderRequest) Reset()         { *m = LeaderRequest{} }
func (m *LeaderRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*LeaderRequest) ProtoMessage()    {}

func (m *LeaderResponse) Reset()         { *m = LeaderResponse{} }
func (m *LeaderResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*LeaderResponse) ProtoMessage()    {}

func (m *ResignRequest) Reset()         { *m = ResignRequest{} }
func (m *ResignRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*ResignRequest) ProtoMessage()    {}

func (m *ResignResponse) Reset()         { *m = ResignResponse{} }
func (m *ResignResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*ResignResponse) ProtoMessage()    {}

func (m *ProclaimRequest) Reset()         { *m = ProclaimRequest{} }
func (m *ProclaimRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*ProclaimRequest) ProtoMessage()    {}

func (m *ProclaimResponse) Reset()         { *m = ProclaimResponse{} }
func (m *ProclaimResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*ProclaimResponse) ProtoMessage()    {}

func (m *LockRequest) Reset()         { *m = LockRequest{} }
func (m *LockRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*LockRequest) ProtoMessage()    {}

func (m *LockResponse) Reset()         { *m = LockResponse{} }
func (m *LockResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*LockResponse) ProtoMessage()    {}

func (m *UnlockRequest) Reset()         { *m = UnlockRequest{} }
func (m *UnlockRequest) String() string { return fmt.Sprintf("%+v", *m) }
func (*UnlockRequest) ProtoMessage()    {}

func (m *UnlockResponse) Reset()         { *m = UnlockResponse{} }
func (m *UnlockResponse) String() string { return fmt.Sprintf("%+v", *m) }
func (*UnlockResponse) ProtoMessage()    {}
