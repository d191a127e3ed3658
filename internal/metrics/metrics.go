// Package metrics exposes a member's Prometheus metrics under etcd's names
// where the meaning is the same. Everything lives in one registry per
// server (no globals). Values that the server already tracks are read at
// scrape time (GaugeFunc/CounterFunc), so the hot paths pay nothing for
// them; only durations are observed as they happen.
package metrics

import (
	"context"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// Source is what the metrics read from the server at scrape time.
type Source interface {
	HasLeader() bool
	IsLeader() bool
	IsLearner() bool
	LeaderChanges() uint64
	CommittedIndex() uint64
	AppliedIndex() uint64
	ProposalsPending() int64
	DBSize() int64
	DBSizeInUse() int64
	QuotaBytes() int64
	KnownPeers() int
}

// Metrics holds the instruments the server observes directly.
type Metrics struct {
	Registry *prometheus.Registry

	WALFsync        prometheus.Histogram
	WALWriteBytes   prometheus.Counter
	BackendCommit   prometheus.Histogram
	ApplyDuration   prometheus.Histogram
	ProposalsFailed prometheus.Counter
	SlowApply       prometheus.Counter
	ReadIndexFailed prometheus.Counter
	HealthSuccess   prometheus.Counter
	HealthFailures  prometheus.Counter
	PeerRTT         *prometheus.HistogramVec
	PeerSentBytes   *prometheus.CounterVec
	PeerRecvBytes   *prometheus.CounterVec
	PeerSentFails   *prometheus.CounterVec
	SnapshotApply   prometheus.Gauge

	grpcStarted   *prometheus.CounterVec
	grpcHandled   *prometheus.CounterVec
	grpcMsgRecv   *prometheus.CounterVec
	grpcMsgSent   *prometheus.CounterVec
	clientSent    prometheus.Counter
	clientRecv    prometheus.Counter
	requestsTotal *prometheus.CounterVec
}

// New registers every metric for one member.
func New(src Source, memberID, serverVersion, clusterVersion string) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	gauge := func(name, help string, f func() float64) {
		ns, sub, n := split(name)
		r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: n, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		ns, sub, n := split(name)
		r.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: n, Help: help}, f))
	}
	gauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.", func() float64 { return b2f(src.HasLeader()) })
	gauge("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.", func() float64 { return b2f(src.IsLeader()) })
	gauge("etcd_server_is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.", func() float64 { return b2f(src.IsLearner()) })
	counter("etcd_server_leader_changes_seen_total", "The number of leader changes seen.", func() float64 { return float64(src.LeaderChanges()) })
	gauge("etcd_server_proposals_committed_total", "The total number of consensus proposals committed.", func() float64 { return float64(src.CommittedIndex()) })
	gauge("etcd_server_proposals_applied_total", "The total number of consensus proposals applied.", func() float64 { return float64(src.AppliedIndex()) })
	gauge("etcd_server_proposals_pending", "The current number of pending proposals to commit.", func() float64 { return float64(src.ProposalsPending()) })
	gauge("etcd_mvcc_db_total_size_in_bytes", "Total size of the underlying database physically allocated in bytes.", func() float64 { return float64(src.DBSize()) })
	gauge("etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes.", func() float64 { return float64(src.DBSizeInUse()) })
	gauge("etcd_server_quota_backend_bytes", "Current backend storage quota size in bytes.", func() float64 { return float64(src.QuotaBytes()) })
	gauge("etcd_network_known_peers", "The current number of known peers.", func() float64 { return float64(src.KnownPeers()) })

	info := func(name, help, label, value string) {
		ns, sub, n := split(name)
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: n, Help: help}, []string{label})
		g.WithLabelValues(value).Set(1)
		r.MustRegister(g)
	}
	info("etcd_server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", "server_id", memberID)
	info("etcd_server_version", "Which version is running. 1 for 'server_version' label with current version.", "server_version", serverVersion)
	info("etcd_cluster_version", "Which version is running. 1 for 'cluster_version' label with current cluster version", "cluster_version", clusterVersion)
	info("etcd_server_go_version", "Which Go version server is running with. 1 for 'server_go_version' label with current version.", "server_go_version", runtime.Version())

	m := &Metrics{Registry: r}
	hist := func(name, help string, buckets []float64) prometheus.Histogram {
		ns, sub, n := split(name)
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: n, Help: help, Buckets: buckets})
		r.MustRegister(h)
		return h
	}
	cnt := func(name, help string) prometheus.Counter {
		ns, sub, n := split(name)
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: n, Help: help})
		r.MustRegister(c)
		return c
	}
	diskBuckets := prometheus.ExponentialBuckets(0.001, 2, 14)
	m.WALFsync = hist("etcd_disk_wal_fsync_duration_seconds", "The latency distributions of fsync called by WAL.", diskBuckets)
	m.WALWriteBytes = cnt("etcd_disk_wal_write_bytes_total", "Total number of bytes written in WAL.")
	m.BackendCommit = hist("etcd_disk_backend_commit_duration_seconds", "The latency distributions of commit called by backend.", diskBuckets)
	m.ApplyDuration = hist("etcd_server_apply_duration_seconds", "The latency distributions of v2 apply called by backend.", prometheus.ExponentialBuckets(0.0001, 2, 20))
	m.ProposalsFailed = cnt("etcd_server_proposals_failed_total", "The total number of failed proposals seen.")
	m.SlowApply = cnt("etcd_server_slow_apply_total", "The total number of slow apply requests (likely overloaded from slow disk).")
	m.ReadIndexFailed = cnt("etcd_server_read_indexes_failed_total", "The total number of failed read indexes seen.")
	m.HealthSuccess = cnt("etcd_server_health_success", "The total number of successful health checks")
	m.HealthFailures = cnt("etcd_server_health_failures", "The total number of failed health checks")
	m.SnapshotApply = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "etcd", Subsystem: "server", Name: "snapshot_apply_in_progress_total", Help: "1 if the server is applying the incoming snapshot. 0 if none."})
	r.MustRegister(m.SnapshotApply)
	m.PeerRTT = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_round_trip_time_seconds", Help: "Round-Trip-Time histogram between peers", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}, []string{"To"})
	m.PeerSentBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_sent_bytes_total", Help: "The total number of bytes sent to peers."}, []string{"To"})
	m.PeerRecvBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_received_bytes_total", Help: "The total number of bytes received from peers."}, []string{"From"})
	m.PeerSentFails = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "network", Name: "peer_sent_failures_total", Help: "The total number of send failures from peers."}, []string{"To"})
	r.MustRegister(m.PeerRTT, m.PeerSentBytes, m.PeerRecvBytes, m.PeerSentFails)

	m.grpcStarted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_started_total", Help: "Total number of RPCs started on the server."}, []string{"grpc_type", "grpc_service", "grpc_method"})
	m.grpcHandled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_handled_total", Help: "Total number of RPCs completed on the server, regardless of success or failure."}, []string{"grpc_type", "grpc_service", "grpc_method", "grpc_code"})
	m.grpcMsgRecv = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_msg_received_total", Help: "Total number of RPC stream messages received on the server."}, []string{"grpc_type", "grpc_service", "grpc_method"})
	m.grpcMsgSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_msg_sent_total", Help: "Total number of gRPC stream messages sent by the server."}, []string{"grpc_type", "grpc_service", "grpc_method"})
	m.clientSent = cnt("etcd_network_client_grpc_sent_bytes_total", "The total number of bytes sent to grpc clients.")
	m.clientRecv = cnt("etcd_network_client_grpc_received_bytes_total", "The total number of bytes received from grpc clients.")
	m.requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "etcd", Subsystem: "server", Name: "client_requests_total", Help: "The total number of client requests per client version."}, []string{"type", "client_api_version"})
	r.MustRegister(m.grpcStarted, m.grpcHandled, m.grpcMsgRecv, m.grpcMsgSent, m.requestsTotal)
	return m
}

func split(full string) (ns, sub, name string) {
	// Register with the full name; namespace and subsystem are only a
	// convenience of the Opts.
	return "", "", full
}

func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.Index(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// UnaryInterceptor counts unary RPCs.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req interface{}, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (interface{}, error) {
		svc, method := splitMethod(info.FullMethod)
		m.grpcStarted.WithLabelValues("unary", svc, method).Inc()
		m.grpcMsgRecv.WithLabelValues("unary", svc, method).Inc()
		resp, err := handler(ctx, req)
		if err == nil {
			m.grpcMsgSent.WithLabelValues("unary", svc, method).Inc()
		}
		m.grpcHandled.WithLabelValues("unary", svc, method, status.Code(err).String()).Inc()
		return resp, err
	}
}

// StreamInterceptor counts streaming RPCs and their messages.
func (m *Metrics) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv interface{}, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		svc, method := splitMethod(info.FullMethod)
		typ := "bidi_stream"
		switch {
		case info.IsClientStream && !info.IsServerStream:
			typ = "client_stream"
		case !info.IsClientStream && info.IsServerStream:
			typ = "server_stream"
		}
		m.grpcStarted.WithLabelValues(typ, svc, method).Inc()
		err := handler(srv, &countingStream{ServerStream: ss, recv: m.grpcMsgRecv.WithLabelValues(typ, svc, method), sent: m.grpcMsgSent.WithLabelValues(typ, svc, method)})
		m.grpcHandled.WithLabelValues(typ, svc, method, status.Code(err).String()).Inc()
		return err
	}
}

type countingStream struct {
	grpc.ServerStream
	recv, sent prometheus.Counter
}

func (s *countingStream) SendMsg(msg interface{}) error {
	err := s.ServerStream.SendMsg(msg)
	if err == nil {
		s.sent.Inc()
	}
	return err
}

func (s *countingStream) RecvMsg(msg interface{}) error {
	err := s.ServerStream.RecvMsg(msg)
	if err == nil {
		s.recv.Inc()
	}
	return err
}

// StatsHandler counts the bytes exchanged with gRPC clients.
func (m *Metrics) StatsHandler() stats.Handler { return &statsHandler{m: m} }

type statsHandler struct{ m *Metrics }

func (h *statsHandler) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (h *statsHandler) HandleRPC(_ context.Context, s stats.RPCStats) {
	switch p := s.(type) {
	case *stats.InPayload:
		h.m.clientRecv.Add(float64(p.WireLength))
	case *stats.OutPayload:
		h.m.clientSent.Add(float64(p.WireLength))
	}
}
func (h *statsHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (h *statsHandler) HandleConn(context.Context, stats.ConnStats) {}

// ObserveSince records the time since start in h.
func ObserveSince(h prometheus.Histogram, start time.Time) { h.Observe(time.Since(start).Seconds()) }
