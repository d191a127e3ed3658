package mvcc

import (
	"bytes"
	"cmp"
	"math"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// rangeResponse serves a RangeRequest the way etcd 3.6 does
// (server/etcdserver/txn/range.go):
//   - count is the number of keys in the range at the revision, ignoring
//     limit and the min/max revision filters;
//   - with the default ordering and no filters, limit+1 keys are fetched and
//     more = (fetched > limit); otherwise everything is fetched, filtered,
//     sorted, then cut to limit, and more = (filtered > limit);
//   - a sort target other than KEY with order NONE sorts ASCEND, but still
//     only over the limit+1 keys fetched in key order (etcd does the same);
//   - count_only returns no kvs and more = false;
//   - the header revision is the view's revision, not the requested one.
func (v *view) rangeResponse(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	rev, err := v.resolveRev(r.Revision)
	if err != nil {
		return nil, err
	}
	kvs, count, err := v.collect(makeBounds(r.Key, r.RangeEnd), rev, fetchLimit(r), r.CountOnly)
	if err != nil {
		return nil, err
	}
	kvs = filterKVs(kvs, r)
	sortKVs(kvs, r)
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: v.rev}, Count: count}
	if r.Limit > 0 && int64(len(kvs)) > r.Limit {
		kvs = kvs[:r.Limit]
		resp.More = true
	}
	if len(kvs) > 0 {
		resp.Kvs = make([]*mvccpb.KeyValue, len(kvs))
		for i := range kvs {
			if r.KeysOnly {
				kvs[i].Value = nil
			}
			resp.Kvs[i] = &kvs[i]
		}
	}
	return resp, nil
}

func fetchLimit(r *pb.RangeRequest) int64 {
	limit := r.Limit
	if !defaultOrdering(r.SortTarget, r.SortOrder) || hasRevisionFilters(r) {
		limit = 0
	}
	if limit > 0 && limit < math.MaxInt64 {
		limit++
	}
	return limit
}

// defaultOrdering reports whether results come out in storage (key
// ascending) order without sorting.
func defaultOrdering(t pb.RangeRequest_SortTarget, o pb.RangeRequest_SortOrder) bool {
	return o == pb.RangeRequest_NONE || (t == pb.RangeRequest_KEY && o == pb.RangeRequest_ASCEND)
}

func hasRevisionFilters(r *pb.RangeRequest) bool {
	return r.MinModRevision != 0 || r.MaxModRevision != 0 ||
		r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
}

func filterKVs(kvs []mvccpb.KeyValue, r *pb.RangeRequest) []mvccpb.KeyValue {
	if !hasRevisionFilters(r) {
		return kvs
	}
	return slices.DeleteFunc(kvs, func(kv mvccpb.KeyValue) bool {
		return (r.MaxModRevision != 0 && kv.ModRevision > r.MaxModRevision) ||
			(r.MinModRevision != 0 && kv.ModRevision < r.MinModRevision) ||
			(r.MaxCreateRevision != 0 && kv.CreateRevision > r.MaxCreateRevision) ||
			(r.MinCreateRevision != 0 && kv.CreateRevision < r.MinCreateRevision)
	})
}

// sortKVs sorts stably, so that ties keep key order in both directions
// (etcd's sort is not stable, but for small results it behaves the same).
// Unknown sort targets (rejected by the api layer) leave key order.
func sortKVs(kvs []mvccpb.KeyValue, r *pb.RangeRequest) {
	order := r.SortOrder
	if r.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if defaultOrdering(r.SortTarget, order) {
		return
	}
	var f func(a, b *mvccpb.KeyValue) int
	switch r.SortTarget {
	case pb.RangeRequest_KEY:
		if order == pb.RangeRequest_DESCEND {
			slices.Reverse(kvs)
		}
		return
	case pb.RangeRequest_VERSION:
		f = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.Version, b.Version) }
	case pb.RangeRequest_CREATE:
		f = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.CreateRevision, b.CreateRevision) }
	case pb.RangeRequest_MOD:
		f = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.ModRevision, b.ModRevision) }
	case pb.RangeRequest_VALUE:
		f = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Value, b.Value) }
	default:
		return
	}
	switch order {
	case pb.RangeRequest_ASCEND:
		slices.SortStableFunc(kvs, func(a, b mvccpb.KeyValue) int { return f(&a, &b) })
	case pb.RangeRequest_DESCEND:
		slices.SortStableFunc(kvs, func(a, b mvccpb.KeyValue) int { return f(&b, &a) })
	}
}
