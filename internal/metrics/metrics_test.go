package metrics

import (
	"context"
	"errors"
	"runtime"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

type fakeSource struct {
	hasLeader, isLeader, isLearner bool
	leaderChanges                  uint64
	committed, applied             uint64
	pending                        int64
	dbSize, dbInUse, quota         int64
	peers                          int
}

func (s *fakeSource) HasLeader() bool         { return s.hasLeader }
func (s *fakeSource) IsLeader() bool          { return s.isLeader }
func (s *fakeSource) IsLearner() bool         { return s.isLearner }
func (s *fakeSource) LeaderChanges() uint64   { return s.leaderChanges }
func (s *fakeSource) CommittedIndex() uint64  { return s.committed }
func (s *fakeSource) AppliedIndex() uint64    { return s.applied }
func (s *fakeSource) ProposalsPending() int64 { return s.pending }
func (s *fakeSource) DBSize() int64           { return s.dbSize }
func (s *fakeSource) DBSizeInUse() int64      { return s.dbInUse }
func (s *fakeSource) QuotaBytes() int64       { return s.quota }
func (s *fakeSource) KnownPeers() int         { return s.peers }
func (s *fakeSource) set(f func(*fakeSource)) { f(s) }

func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find returns the value of the series of name whose labels include want.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
outer:
	for _, m := range f.GetMetric() {
		ls := labels(m)
		for k, v := range want {
			if ls[k] != v {
				continue outer
			}
		}
		return value(m), true
	}
	return 0, false
}

func TestRegistryHasEtcdNames(t *testing.T) {
	src := &fakeSource{hasLeader: true, isLeader: true, leaderChanges: 3, committed: 42, applied: 41,
		pending: 2, dbSize: 4096, dbInUse: 2048, quota: 2 << 30, peers: 2}
	m := New(src, "8e9e05c52164694d", "3.6.0", "3.6.0")
	m.WALFsync.Observe(0.001)
	m.BackendCommit.Observe(0.002)
	m.ApplyDuration.Observe(0.0001)
	m.PeerRTT.WithLabelValues("2").Observe(0.0003)
	m.PeerSentBytes.WithLabelValues("2").Add(100)
	m.PeerRecvBytes.WithLabelValues("2").Add(50)
	m.PeerSentFails.WithLabelValues("2").Inc()
	fams := gather(t, m)

	tests := []struct {
		name   string
		typ    dto.MetricType
		labels map[string]string
		want   float64 // -1: only present
	}{
		{"etcd_server_has_leader", dto.MetricType_GAUGE, nil, 1},
		{"etcd_server_is_leader", dto.MetricType_GAUGE, nil, 1},
		{"etcd_server_is_learner", dto.MetricType_GAUGE, nil, 0},
		{"etcd_server_leader_changes_seen_total", dto.MetricType_COUNTER, nil, 3},
		{"etcd_server_proposals_committed_total", dto.MetricType_GAUGE, nil, 42},
		{"etcd_server_proposals_applied_total", dto.MetricType_GAUGE, nil, 41},
		{"etcd_server_proposals_pending", dto.MetricType_GAUGE, nil, 2},
		{"etcd_server_proposals_failed_total", dto.MetricType_COUNTER, nil, 0},
		{"etcd_mvcc_db_total_size_in_bytes", dto.MetricType_GAUGE, nil, 4096},
		{"etcd_mvcc_db_total_size_in_use_in_bytes", dto.MetricType_GAUGE, nil, 2048},
		{"etcd_server_quota_backend_bytes", dto.MetricType_GAUGE, nil, 2 << 30},
		{"etcd_network_known_peers", dto.MetricType_GAUGE, nil, 2},
		{"etcd_server_id", dto.MetricType_GAUGE, map[string]string{"server_id": "8e9e05c52164694d"}, 1},
		{"etcd_server_version", dto.MetricType_GAUGE, map[string]string{"server_version": "3.6.0"}, 1},
		{"etcd_cluster_version", dto.MetricType_GAUGE, map[string]string{"cluster_version": "3.6.0"}, 1},
		{"etcd_server_go_version", dto.MetricType_GAUGE, map[string]string{"server_go_version": runtime.Version()}, 1},
		{"etcd_disk_wal_fsync_duration_seconds", dto.MetricType_HISTOGRAM, nil, 1},
		{"etcd_disk_backend_commit_duration_seconds", dto.MetricType_HISTOGRAM, nil, 1},
		{"etcd_server_apply_duration_seconds", dto.MetricType_HISTOGRAM, nil, 1},
		{"etcd_disk_wal_write_bytes_total", -1, nil, 0},
		{"etcd_server_slow_apply_total", dto.MetricType_COUNTER, nil, 0},
		{"etcd_server_read_indexes_failed_total", dto.MetricType_COUNTER, nil, 0},
		{"etcd_server_health_success", dto.MetricType_COUNTER, nil, 0},
		{"etcd_server_health_failures", dto.MetricType_COUNTER, nil, 0},
		{"etcd_server_snapshot_apply_in_progress_total", dto.MetricType_GAUGE, nil, 0},
		{"etcd_network_peer_round_trip_time_seconds", dto.MetricType_HISTOGRAM, map[string]string{"To": "2"}, 1},
		{"etcd_network_peer_sent_bytes_total", dto.MetricType_COUNTER, map[string]string{"To": "2"}, 100},
		{"etcd_network_peer_received_bytes_total", dto.MetricType_COUNTER, map[string]string{"From": "2"}, 50},
		{"etcd_network_peer_sent_failures_total", dto.MetricType_COUNTER, map[string]string{"To": "2"}, 1},
		{"etcd_network_client_grpc_sent_bytes_total", dto.MetricType_COUNTER, nil, 0},
		{"etcd_network_client_grpc_received_bytes_total", dto.MetricType_COUNTER, nil, 0},
		{"go_goroutines", dto.MetricType_GAUGE, nil, -1},
		{"process_start_time_seconds", dto.MetricType_GAUGE, nil, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := fams[tc.name]
			if !ok {
				if tc.name == "process_start_time_seconds" && runtime.GOOS != "linux" {
					t.Skip("process collector is Linux-only")
				}
				t.Fatalf("%s not gathered", tc.name)
			}
			if tc.typ >= 0 && f.GetType() != tc.typ {
				t.Fatalf("%s type = %s, want %s", tc.name, f.GetType(), tc.typ)
			}
			if f.GetHelp() == "" {
				t.Fatalf("%s has no help", tc.name)
			}
			got, ok := find(t, fams, tc.name, tc.labels)
			if !ok {
				t.Fatalf("%s has no series with labels %v", tc.name, tc.labels)
			}
			if tc.want >= 0 && got != tc.want {
				t.Fatalf("%s = %v, want %v", tc.name, got, tc.want)
			}
		})
	}

	// Scrape-time values follow the source.
	src.set(func(s *fakeSource) { s.hasLeader, s.isLeader, s.isLearner, s.applied = false, false, true, 50 })
	fams = gather(t, m)
	for name, want := range map[string]float64{
		"etcd_server_has_leader": 0, "etcd_server_is_leader": 0, "etcd_server_is_learner": 1,
		"etcd_server_proposals_applied_total": 50,
	} {
		if got, _ := find(t, fams, name, nil); got != want {
			t.Errorf("after the change %s = %v, want %v", name, got, want)
		}
	}
}

// Two members in one process (tests do this) have separate registries.
func TestNoGlobalRegistration(t *testing.T) {
	a := New(&fakeSource{}, "a", "3.6.0", "3.6.0")
	b := New(&fakeSource{}, "b", "3.6.0", "3.6.0")
	a.ProposalsFailed.Inc()
	if got, _ := find(t, gather(t, b), "etcd_server_proposals_failed_total", nil); got != 0 {
		t.Fatalf("b sees a's counter: %v", got)
	}
	if got, _ := find(t, gather(t, a), "etcd_server_proposals_failed_total", nil); got != 1 {
		t.Fatalf("a's counter = %v", got)
	}
}

func TestUnaryInterceptor(t *testing.T) {
	m := New(&fakeSource{}, "1", "3.6.0", "3.6.0")
	ic := m.UnaryInterceptor()
	calls := []struct {
		method string
		err    error
	}{
		{"/etcdserverpb.KV/Range", nil},
		{"/etcdserverpb.KV/Range", nil},
		{"/etcdserverpb.KV/Range", rpctypes.ErrGRPCCompacted},
		{"/etcdserverpb.KV/Put", rpctypes.ErrGRPCEmptyKey},
		{"/etcdserverpb.KV/Put", status.Error(codes.NotFound, "x")},
		{"/etcdserverpb.Lease/LeaseGrant", errors.New("plain")},
		{"/etcdserverpb.Maintenance/Status", status.Error(codes.DeadlineExceeded, "context deadline exceeded")},
		{"noslash", nil},
	}
	for _, c := range calls {
		_, err := ic(context.Background(), "req", &grpc.UnaryServerInfo{FullMethod: c.method},
			func(context.Context, interface{}) (interface{}, error) { return "resp", c.err })
		if err != c.err {
			t.Fatalf("interceptor changed the error: %v -> %v", c.err, err)
		}
	}
	fams := gather(t, m)
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"grpc_server_started_total", map[string]string{"grpc_type": "unary", "grpc_service": "etcdserverpb.KV", "grpc_method": "Range"}, 3},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "etcdserverpb.KV", "grpc_method": "Range", "grpc_code": "OK"}, 2},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "etcdserverpb.KV", "grpc_method": "Range", "grpc_code": "OutOfRange"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "etcdserverpb.KV", "grpc_method": "Put", "grpc_code": "InvalidArgument"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "etcdserverpb.KV", "grpc_method": "Put", "grpc_code": "NotFound"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "etcdserverpb.Lease", "grpc_method": "LeaseGrant", "grpc_code": "Unknown"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "etcdserverpb.Maintenance", "grpc_method": "Status", "grpc_code": "DeadlineExceeded"}, 1},
		{"grpc_server_handled_total", map[string]string{"grpc_service": "unknown", "grpc_method": "noslash", "grpc_code": "OK"}, 1},
		{"grpc_server_msg_received_total", map[string]string{"grpc_type": "unary", "grpc_method": "Range"}, 3},
		// Only successful calls send a message.
		{"grpc_server_msg_sent_total", map[string]string{"grpc_type": "unary", "grpc_method": "Range"}, 2},
	}
	for _, tc := range tests {
		got, ok := find(t, fams, tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if _, ok := find(t, fams, "grpc_server_msg_sent_total", map[string]string{"grpc_method": "Put"}); ok {
		t.Errorf("failed Puts counted a sent message")
	}
}

type fakeServerStream struct {
	grpc.ServerStream
	recvLeft int
	sendErr  error
}

func (s *fakeServerStream) Context() context.Context  { return context.Background() }
func (s *fakeServerStream) SendMsg(interface{}) error { return s.sendErr }
func (s *fakeServerStream) RecvMsg(interface{}) error {
	if s.recvLeft == 0 {
		return errors.New("EOF")
	}
	s.recvLeft--
	return nil
}

func TestStreamInterceptor(t *testing.T) {
	m := New(&fakeSource{}, "1", "3.6.0", "3.6.0")
	ic := m.StreamInterceptor()
	tests := []struct {
		name               string
		info               grpc.StreamServerInfo
		recv, send         int
		err                error
		wantType, wantCode string
	}{
		{"watch", grpc.StreamServerInfo{FullMethod: "/etcdserverpb.Watch/Watch", IsClientStream: true, IsServerStream: true}, 3, 5, nil, "bidi_stream", "OK"},
		{"snapshot", grpc.StreamServerInfo{FullMethod: "/etcdserverpb.Maintenance/Snapshot", IsServerStream: true}, 1, 4, rpctypes.ErrGRPCNoLeader, "server_stream", "Unavailable"},
		{"client stream", grpc.StreamServerInfo{FullMethod: "/x.Svc/Upload", IsClientStream: true}, 2, 1, status.Error(codes.Canceled, "c"), "client_stream", "Canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := &fakeServerStream{recvLeft: tc.recv}
			err := ic(nil, ss, &tc.info, func(_ interface{}, s grpc.ServerStream) error {
				for s.RecvMsg(nil) == nil {
				}
				for i := 0; i < tc.send; i++ {
					if err := s.SendMsg(nil); err != nil {
						return err
					}
				}
				return tc.err
			})
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			svc, method := splitMethod(tc.info.FullMethod)
			fams := gather(t, m)
			base := map[string]string{"grpc_type": tc.wantType, "grpc_service": svc, "grpc_method": method}
			with := func(k, v string) map[string]string {
				out := map[string]string{k: v}
				for bk, bv := range base {
					out[bk] = bv
				}
				return out
			}
			checks := []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{"grpc_server_started_total", base, 1},
				{"grpc_server_msg_received_total", base, float64(tc.recv)},
				{"grpc_server_msg_sent_total", base, float64(tc.send)},
				{"grpc_server_handled_total", with("grpc_code", tc.wantCode), 1},
			}
			for _, c := range checks {
				if got, ok := find(t, fams, c.name, c.labels); !ok || got != c.want {
					t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
				}
			}
		})
	}
	// A failed send is not counted.
	ss := &fakeServerStream{sendErr: errors.New("broken")}
	_ = ic(nil, ss, &grpc.StreamServerInfo{FullMethod: "/etcdserverpb.Watch/Progress", IsClientStream: true, IsServerStream: true},
		func(_ interface{}, s grpc.ServerStream) error { return s.SendMsg(nil) })
	if got, _ := find(t, gather(t, m), "grpc_server_msg_sent_total", map[string]string{"grpc_method": "Progress"}); got != 0 {
		t.Fatalf("failed send counted: %v", got)
	}
}

func TestStatsHandlerCountsBytes(t *testing.T) {
	m := New(&fakeSource{}, "1", "3.6.0", "3.6.0")
	h := m.StatsHandler()
	ctx := h.TagRPC(context.Background(), &stats.RPCTagInfo{FullMethodName: "/etcdserverpb.KV/Range"})
	h.HandleRPC(ctx, &stats.InPayload{WireLength: 100})
	h.HandleRPC(ctx, &stats.InPayload{WireLength: 20})
	h.HandleRPC(ctx, &stats.OutPayload{WireLength: 300})
	h.HandleRPC(ctx, &stats.Begin{})
	h.HandleConn(h.TagConn(ctx, &stats.ConnTagInfo{}), &stats.ConnBegin{})
	fams := gather(t, m)
	if got, _ := find(t, fams, "etcd_network_client_grpc_received_bytes_total", nil); got != 120 {
		t.Errorf("received bytes = %v, want 120", got)
	}
	if got, _ := find(t, fams, "etcd_network_client_grpc_sent_bytes_total", nil); got != 300 {
		t.Errorf("sent bytes = %v, want 300", got)
	}
}

// Every registered metric family that Cairn defines itself uses etcd's
// prefixes (or the grpc_server_ ones of go-grpc-prometheus).
func TestNamePrefixes(t *testing.T) {
	m := New(&fakeSource{}, "1", "3.6.0", "3.6.0")
	_, _ = m.UnaryInterceptor()(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/a.B/C"},
		func(context.Context, interface{}) (interface{}, error) { return nil, nil })
	var bad []string
	for name := range gather(t, m) {
		switch {
		case strings.HasPrefix(name, "etcd_"), strings.HasPrefix(name, "grpc_server_"),
			strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
		default:
			bad = append(bad, name)
		}
	}
	sort.Strings(bad)
	if len(bad) > 0 {
		t.Fatalf("metrics outside etcd's namespaces: %v", bad)
	}
}
