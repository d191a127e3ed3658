package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/metrics"
	"github.com/cairndb/cairn/internal/version"
)

// metricsSource gives the metrics live values at scrape time.
type metricsSource struct{ s *Server }

func (m metricsSource) HasLeader() bool         { return m.s.node.Leader() != 0 }
func (m metricsSource) IsLeader() bool          { return m.s.node.IsLeader() }
func (m metricsSource) IsLearner() bool         { return m.s.node.Status().IsLearner }
func (m metricsSource) LeaderChanges() uint64   { return m.s.node.LeaderChanges() }
func (m metricsSource) CommittedIndex() uint64  { return m.s.node.Status().Commit }
func (m metricsSource) AppliedIndex() uint64    { return m.s.applied.applied.Load() }
func (m metricsSource) ProposalsPending() int64 { return m.s.pending.Load() }
func (m metricsSource) DBSize() int64           { size, _ := m.s.dbSizes(); return size }
func (m metricsSource) DBSizeInUse() int64      { _, inUse := m.s.dbSizes(); return inUse }
func (m metricsSource) QuotaBytes() int64       { return m.s.quotaBytes() }
func (m metricsSource) KnownPeers() int         { return len(m.s.members.Members()) - 1 }

func (s *Server) initMetrics() {
	s.metrics = metrics.New(metricsSource{s}, fmt.Sprintf("%x", s.id), version.Etcd, version.Cluster)
}

// dbSizes returns the engine's disk use and the live data size. Reading
// the engine's metrics is costly, so the figures are cached for up to
// dbSizeMaxAge: the quota check runs on every write.
func (s *Server) dbSizes() (size, inUse int64) {
	now := time.Now().UnixNano()
	if c := s.dbSizeCache.Load(); c != nil && now-c.at < int64(dbSizeMaxAge) {
		return c.size, c.inUse
	}
	size, inUse = s.readDBSizes()
	s.dbSizeCache.Store(&dbSizeSample{at: now, size: size, inUse: inUse})
	return size, inUse
}

const dbSizeMaxAge = 100 * time.Millisecond

type dbSizeSample struct {
	at          int64
	size, inUse int64
}

func (s *Server) readDBSizes() (size, inUse int64) {
	m := s.db.Metrics()
	size = int64(m.DiskSpaceUsage())
	if size <= 0 {
		size = 1 // etcdctl divides by it
	}
	inUse = int64(m.Total().TablesSize) + int64(m.MemTable.Size)
	if inUse <= 0 || inUse > size {
		inUse = size
	}
	return size, inUse
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{})
}

// serveMetricsURLs serves /metrics and the health endpoints on
// --listen-metrics-urls.
func (s *Server) serveMetricsURLs() error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.metricsHandler())
	mux.HandleFunc("/health", s.handleHealth)
	mux.HandleFunc("/livez", s.handleLivez)
	mux.HandleFunc("/livez/", s.handleLivez)
	mux.HandleFunc("/readyz", s.handleReadyz)
	mux.HandleFunc("/readyz/", s.handleReadyz)
	for _, u := range s.cfg.ListenMetricsURLs {
		l, err := listen(u)
		if err != nil {
			return fmt.Errorf("listen on metrics URL %s: %w", u.String(), err)
		}
		if u.Scheme == "https" {
			if s.clientServerTLS == nil {
				l.Close()
				return fmt.Errorf("an https metrics URL needs the client --cert-file and --key-file")
			}
			l = tlsListener(l, s.clientServerTLS)
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ErrorLog: s.httpErrorLog()}
		s.httpSrvs = append(s.httpSrvs, hs)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.lg.Warn("metrics serving stopped", zap.Error(err))
			}
		}()
		s.lg.Info("serving metrics", zap.String("address", u.Host))
	}
	return nil
}

// probePeers checks every peer once a second: it records the round-trip
// time (etcd_network_peer_round_trip_time_seconds) and since when each peer
// has answered without a break, which the strict reconfiguration check uses
// (raft streams alone do not say whether two followers can reach each other).
func (s *Server) probePeers() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stopc:
			return
		case <-t.C:
		}
		now := time.Now()
		seen := map[uint64]bool{}
		for _, m := range s.members.Members() {
			if m.ID == s.id || len(m.PeerURLs) == 0 {
				continue
			}
			seen[m.ID] = true
			ok := false
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.PeerURLs[0]+"/version", nil)
			if err == nil {
				start := time.Now()
				resp, err := s.peerHTTP.Do(req)
				if err == nil {
					resp.Body.Close()
					ok = resp.StatusCode == http.StatusOK
					s.metrics.PeerRTT.WithLabelValues(fmt.Sprintf("%x", m.ID)).Observe(time.Since(start).Seconds())
				}
			}
			cancel()
			s.reach.mu.Lock()
			switch {
			case !ok:
				delete(s.reach.since, m.ID)
			case s.reach.since[m.ID].IsZero():
				s.reach.since[m.ID] = now
			}
			s.reach.mu.Unlock()
		}
		s.reach.mu.Lock()
		for id := range s.reach.since {
			if !seen[id] {
				delete(s.reach.since, id)
			}
		}
		s.reach.mu.Unlock()
	}
}

// reachableSince is when peer id started answering probes without a break,
// or the zero time.
func (s *Server) reachableSince(id uint64) time.Time {
	s.reach.mu.Lock()
	defer s.reach.mu.Unlock()
	return s.reach.since[id]
}
