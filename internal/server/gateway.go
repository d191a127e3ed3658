package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.etcd.io/etcd/api/v3/etcdserverpb/gw"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
)

// The JSON gateway (/v3/...) talks to this member's own gRPC server over an
// in-memory connection, so it needs no network, no TLS client certificate,
// and streams (watch, keep-alive) work as over gRPC.

type gateway struct {
	conn    *grpc.ClientConn
	handler http.Handler
}

// localConn is an in-memory connection to this member's own gRPC server,
// used by the JSON gateway and by the Election and Lock services.
type localConn struct {
	lis    *bufconn.Listener
	client *clientv3.Client
}

func (s *Server) newLocalConn() error {
	lis := bufconn.Listen(1 << 20)
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{"cairn-local:0"},
		DialOptions: []grpc.DialOption{
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		},
		Logger:             zap.NewNop(),
		MaxCallSendMsgSize: int(s.cfg.MaxRequestBytes) + grpcOverheadBytes,
	})
	if err != nil {
		lis.Close()
		return err
	}
	s.local = &localConn{lis: lis, client: c}
	return nil
}

// serveLocal serves the in-memory connection; the gRPC server must be built.
func (s *Server) serveLocal() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.local.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.lg.Warn("in-memory gRPC serving stopped", zap.Error(err))
		}
	}()
}

func (s *Server) startGateway() error {
	if !s.cfg.EnableGRPCGateway {
		return nil
	}
	lis := s.local.lis
	conn, err := grpc.NewClient("passthrough:///cairn-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<31-1), grpc.MaxCallSendMsgSize(int(s.cfg.MaxRequestBytes)+grpcOverheadBytes)),
	)
	if err != nil {
		return err
	}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
			},
		}),
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			// The HTTP Authorization header carries the auth token.
			if strings.EqualFold(h, "Authorization") {
				return "token", true
			}
			return runtime.DefaultHeaderMatcher(h)
		}),
	)
	ctx := context.Background()
	for _, reg := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		gw.RegisterKVHandler, gw.RegisterWatchHandler, gw.RegisterLeaseHandler,
		gw.RegisterClusterHandler, gw.RegisterMaintenanceHandler, gw.RegisterAuthHandler,
	} {
		if err := reg(ctx, mux, conn); err != nil {
			conn.Close()
			return err
		}
	}
	s.gw = &gateway{conn: conn, handler: mux}
	return nil
}

// gatewayHandler serves /v3/ and the legacy /v3beta/ prefix.
func (s *Server) gatewayHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.gw == nil {
			http.NotFound(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/v3beta/") {
			r.URL.Path = "/v3/" + strings.TrimPrefix(r.URL.Path, "/v3beta/")
		}
		s.gw.handler.ServeHTTP(w, r)
	})
}

func (s *Server) stopGateway() {
	if s.gw != nil {
		s.gw.conn.Close()
	}
	if s.local != nil {
		s.local.client.Close()
		s.local.lis.Close()
	}
}
