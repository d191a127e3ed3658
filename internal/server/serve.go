package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/cairndb/cairn/internal/api"
	"github.com/cairndb/cairn/internal/version"
)

// grpcOverheadBytes is added to max-request-bytes for the gRPC receive limit.
const grpcOverheadBytes = 512 * 1024

// Serve binds the client listeners, waits until the member is ready, then
// serves gRPC and HTTP on them. It returns once serving has started (or
// failed to); Stop ends it.
func (s *Server) Serve() error {
	var lns []net.Listener
	for _, u := range s.cfg.ListenClientURLs {
		l, err := listen(u)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("listen on client URL %s: %w", u.String(), err)
		}
		if u.Scheme == "https" || u.Scheme == "unixs" {
			l = tlsListener(l, s.clientServerTLS)
		}
		lns = append(lns, l)
	}
	s.listeners = lns
	if err := s.newLocalConn(); err != nil {
		return err
	}
	s.grpc = s.newGRPCServer()
	s.serveLocal()
	if err := s.startGateway(); err != nil {
		return err
	}
	if err := s.serveMetricsURLs(); err != nil {
		return err
	}
	select {
	case <-s.readyc:
	case <-s.stopc:
		return errStopped
	}
	for i, l := range lns {
		u := s.cfg.ListenClientURLs[i]
		if u.Scheme == "https" || u.Scheme == "unixs" {
			s.serveTLS(l)
		} else {
			s.servePlain(l)
		}
		s.lg.Info("ready to serve client requests", zap.String("address", s.cfg.ListenClientURLs[i].Host))
		if sc := s.cfg.ListenClientURLs[i].Scheme; sc == "http" || sc == "unix" {
			s.lg.Warn("serving client traffic insecurely; this is strongly discouraged!", zap.String("address", s.cfg.ListenClientURLs[i].Host))
		}
	}
	s.notifySystemd(daemon.SdNotifyReady)
	return nil
}

// servePlain splits a plain listener: HTTP/2 (gRPC) goes to the native gRPC
// server, HTTP/1 to the HTTP handlers.
func (s *Server) servePlain(l net.Listener) {
	sl := newSplitListener(l)
	hs := &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 30 * time.Second, ErrorLog: s.httpErrorLog()}
	s.httpSrvs = append(s.httpSrvs, hs)
	s.closers = append(s.closers, sl)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(sl.grpc); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, net.ErrClosed) {
			s.lg.Warn("gRPC serving stopped", zap.Error(err))
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := hs.Serve(sl.http); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.lg.Warn("HTTP serving stopped", zap.Error(err))
		}
	}()
}

// serveTLS serves a TLS listener with one HTTP server: over TLS, HTTP/2 is
// negotiated by ALPN for browsers and curl as well as for gRPC, so requests
// are told apart by content type, as etcd does.
func (s *Server) serveTLS(l net.Listener) {
	mux := s.httpHandler()
	hs := &http.Server{
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          s.httpErrorLog(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
				s.grpc.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		}),
	}
	s.httpSrvs = append(s.httpSrvs, hs)
	s.closers = append(s.closers, l)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.lg.Warn("HTTPS serving stopped", zap.Error(err))
		}
	}()
}

func listen(u url.URL) (net.Listener, error) {
	switch u.Scheme {
	case "unix", "unixs":
		path := u.Host + u.Path
		_ = os.Remove(path)
		return net.Listen("unix", path)
	default:
		return net.Listen("tcp", u.Host)
	}
}

func (s *Server) newGRPCServer() *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(s.cfg.MaxRequestBytes) + grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.ForceServerCodec(api.Codec{}),
		grpc.MaxConcurrentStreams(maxStreams(s.cfg.MaxConcurrentStreams)),
		grpc.ChainUnaryInterceptor(s.metrics.UnaryInterceptor(), api.UnaryInterceptor(memberState{s})),
		grpc.ChainStreamInterceptor(s.metrics.StreamInterceptor(), api.StreamInterceptor(memberState{s})),
		grpc.StatsHandler(s.metrics.StatsHandler()),
		// Reuse handler goroutines: their stacks stay grown, which saves
		// the stack copying a fresh goroutine per request costs.
		grpc.NumStreamWorkers(256),
	}
	if s.cfg.GRPCKeepAliveMinTime > 0 {
		opts = append(opts, grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: s.cfg.GRPCKeepAliveMinTime, PermitWithoutStream: false}))
	}
	if s.cfg.GRPCKeepAliveInterval > 0 || s.cfg.GRPCKeepAliveTimeout > 0 {
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{Time: s.cfg.GRPCKeepAliveInterval, Timeout: s.cfg.GRPCKeepAliveTimeout}))
	}
	g := grpc.NewServer(opts...)
	pb.RegisterKVServer(g, api.NewKVServer(s, api.Limits{MaxTxnOps: int(s.cfg.MaxTxnOps)}))
	pb.RegisterMaintenanceServer(g, api.NewMaintenanceServer(s))
	pb.RegisterClusterServer(g, api.NewClusterServer(s))
	pb.RegisterLeaseServer(g, api.NewLeaseServer(s))
	pb.RegisterAuthServer(g, api.NewAuthServer(s))
	s.registerWatch(g)
	api.RegisterElectionAndLock(g, s.local.client)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(g, hs)
	return g
}

func maxStreams(n uint32) uint32 {
	if n == 0 {
		return math.MaxUint32
	}
	return n
}

func (s *Server) stopServing(ctx context.Context) {
	s.notifySystemd(daemon.SdNotifyStopping)
	for _, hs := range s.httpSrvs {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = hs.Shutdown(sctx)
		cancel()
	}
	s.stopGateway()
	if s.grpc != nil {
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			s.grpc.Stop()
			<-done
		}
	}
	for _, c := range s.closers {
		c.Close()
	}
	if len(s.closers) == 0 {
		for _, l := range s.listeners {
			l.Close()
		}
	}
}

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/version", s.handleVersion)
	mux.HandleFunc("/health", s.handleHealth)
	mux.HandleFunc("/livez", s.handleLivez)
	mux.HandleFunc("/livez/", s.handleLivez)
	mux.HandleFunc("/readyz", s.handleReadyz)
	mux.HandleFunc("/readyz/", s.handleReadyz)
	mux.Handle("/metrics", s.metricsHandler())
	if s.cfg.EnablePprof || s.cfg.LogLevel == "debug" {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/v3/", s.gatewayHandler())
	mux.Handle("/v3beta/", s.gatewayHandler())
	return mux
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"etcdserver":  version.Etcd,
		"etcdcluster": version.Cluster,
		"storage":     version.Storage,
	})
}

// checkHealth runs etcd's health checks: a leader exists, then a read works.
func (s *Server) checkHealth(ctx context.Context, serializable bool, exclude map[string]bool) (bool, string) {
	for _, am := range s.alarms.List(0, pb.AlarmType_NONE) {
		if !exclude[am.Alarm.String()] {
			return false, "ALARM " + am.Alarm.String()
		}
	}
	if !serializable && s.node.Leader() == 0 {
		return false, "RAFT NO LEADER"
	}
	ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	defer cancel()
	if _, err := s.Range(ctx, &pb.RangeRequest{Key: []byte("health"), KeysOnly: true, Limit: 1, Serializable: serializable}); err != nil {
		return false, "RANGE ERROR:" + err.Error()
	}
	return true, ""
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	exclude := map[string]bool{}
	for _, e := range r.URL.Query()["exclude"] {
		exclude[e] = true
	}
	ok, reason := s.checkHealth(r.Context(), r.URL.Query().Get("serializable") == "true", exclude)
	body := map[string]string{"health": "true", "reason": ""}
	if ok {
		s.metrics.HealthSuccess.Inc()
	} else {
		s.metrics.HealthFailures.Inc()
		body = map[string]string{"health": "false", "reason": reason}
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	d, _ := json.Marshal(body)
	_, _ = w.Write(d)
}

type check struct {
	name string
	run  func(ctx context.Context) error
}

// runChecks answers /livez and /readyz as etcd does: GET only; a sub-path
// runs one named check (404 for an unknown one); ?exclude=NAME skips a
// check; ?verbose lists each check before the verdict.
func (s *Server) runChecks(w http.ResponseWriter, r *http.Request, prefix string, checks []check) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	only := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, prefix), "/")
	if only != "" {
		found := false
		for _, c := range checks {
			found = found || c.name == only
		}
		if !found {
			http.NotFound(w, r)
			return
		}
	}
	excluded := map[string]bool{}
	for _, e := range r.URL.Query()["exclude"] {
		excluded[e] = true
	}
	_, verbose := r.URL.Query()["verbose"]
	var b strings.Builder
	failed := false
	for _, c := range checks {
		if (only != "" && c.name != only) || excluded[c.name] {
			continue
		}
		if err := c.run(r.Context()); err != nil {
			failed = true
			fmt.Fprintf(&b, "[-]%s failed: %v\n", c.name, err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "%s%s check failed\n", b.String(), strings.TrimPrefix(prefix, "/"))
		return
	}
	if verbose {
		fmt.Fprint(w, b.String())
	}
	fmt.Fprint(w, "ok\n")
}

func (s *Server) readCheck(serializable bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
		defer cancel()
		_, err := s.Range(ctx, &pb.RangeRequest{Key: []byte("health"), KeysOnly: true, Limit: 1, Serializable: serializable})
		return err
	}
}

func (s *Server) handleLivez(w http.ResponseWriter, r *http.Request) {
	s.runChecks(w, r, "/livez", []check{{"serializable_read", s.readCheck(true)}})
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	s.runChecks(w, r, "/readyz", []check{
		{"data_corruption", func(context.Context) error {
			if s.alarms.Has(pb.AlarmType_CORRUPT) {
				return errors.New("alarm CORRUPT")
			}
			return nil
		}},
		{"serializable_read", s.readCheck(true)},
		{"linearizable_read", s.readCheck(false)},
		{"non_learner", func(context.Context) error {
			if s.node.Status().IsLearner {
				return errors.New("this member is a learner")
			}
			return nil
		}},
	})
}

type memberState struct{ s *Server }

func (m memberState) IsLearner() bool { return m.s.node.Status().IsLearner }
func (m memberState) HasLeader() bool { return m.s.node.Leader() != 0 }

// httpErrorLog keeps net/http's own complaints (TLS handshake errors from
// refused clients and the like) out of the JSON log unless debugging.
func (s *Server) httpErrorLog() *log.Logger {
	l, err := zap.NewStdLogAt(s.lg.Named("http"), zap.DebugLevel)
	if err != nil {
		return log.New(io.Discard, "", 0)
	}
	return l
}
