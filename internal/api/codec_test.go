package api

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cairndb/cairn/internal/api/lockpb"
)

// The election and lock messages decode through protobuf-go, which would
// keep a field of the wrong wire type as unknown and go on; etcd refuses
// the request, and so must Cairn.
func TestCodecRefusesWrongWireType(t *testing.T) {
	var c Codec
	// A fixed32 where ProclaimRequest's leader (a message) belongs: the
	// fuzzer's input (testdata/fuzz/FuzzGRPC in tests/robustness).
	if err := c.Unmarshal([]byte{0x0d, '0', '0', '0', '0'}, &lockpb.ProclaimRequest{}); err == nil || !strings.Contains(err.Error(), "wrong wireType = 5 for field leader") {
		t.Errorf("fixed32 for a message field: %v", err)
	}
	// Nested: LeaderKey.rev (varint) sent as bytes.
	inner := protowire.AppendTag(nil, 3, protowire.BytesType)
	inner = protowire.AppendBytes(inner, []byte("x"))
	msg := protowire.AppendTag(nil, 1, protowire.BytesType)
	msg = protowire.AppendBytes(msg, inner)
	if err := c.Unmarshal(msg, &lockpb.ResignRequest{}); err == nil || !strings.Contains(err.Error(), "field rev") {
		t.Errorf("bytes for a nested varint field: %v", err)
	}
	// Well-formed input, with an unknown field, still decodes.
	good := protowire.AppendTag(nil, 1, protowire.BytesType)
	good = protowire.AppendBytes(good, []byte("name"))
	good = protowire.AppendTag(good, 2, protowire.VarintType)
	good = protowire.AppendVarint(good, 7)
	good = protowire.AppendTag(good, 99, protowire.Fixed64Type)
	good = protowire.AppendFixed64(good, 1)
	var req lockpb.LockRequest
	if err := c.Unmarshal(good, &req); err != nil || string(req.Name) != "name" || req.Lease != 7 {
		t.Errorf("well-formed LockRequest: %+v, %v", &req, err)
	}
	// Truncated input is an error, not a panic.
	if err := c.Unmarshal(good[:len(good)-3], &lockpb.LockRequest{}); err == nil {
		t.Error("truncated LockRequest decoded")
	}
}
