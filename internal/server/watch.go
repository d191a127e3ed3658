package server

import (
	"context"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"

	"github.com/cairndb/cairn/internal/api"
	"github.com/cairndb/cairn/internal/watch"
)

// watchState is the server's part of watch: the hub fed by apply.
type watchState struct {
	hub *watch.Hub
}

// initWatch creates the watch hub; called from New before apply starts, so
// the hub's revision is the store's and every later event reaches it.
func (s *Server) initWatch() {
	s.watch.hub = watch.New(watch.Config{
		Store:  watchStore{s},
		Rev:    s.kv.Rev(),
		Header: s.header,
		Logger: s.lg.Named("watch"),
	})
}

// notifyWatchers is called by the apply loop, in order, after each batch is
// committed and published (kv.Committed), with the batch's events and the
// store's revision. It does not block: the hub queues the batch (or, when
// it is far behind, drops it and later reads storage instead). After a
// snapshot install, call it with no events and the new revision: the hub
// then serves its watchers from storage.
func (s *Server) notifyWatchers(evs []mvccpb.Event, rev int64) {
	s.watch.hub.Notify(evs, rev)
}

// registerWatch registers the Watch service.
func (s *Server) registerWatch(g *grpc.Server) {
	pb.RegisterWatchServer(g, api.NewWatchServer(watchBackend{h: s.watch.hub, s: s}, api.WatchOptions{
		ProgressInterval: s.cfg.WatchProgressNotifyInterval,
		MaxRequestBytes:  s.maxReqBytes + grpcOverheadBytes,
		Stopping:         s.stopc,
		Logger:           s.lg.Named("watch"),
	}))
}

// stopWatch ends the hub's goroutines after apply has stopped.
func (s *Server) stopWatch() {
	if s.watch.hub != nil {
		s.watch.hub.Stop()
	}
}

// watchStore gives the hub the history in mvcc, through the server's
// accessors: a snapshot install replaces the store.
type watchStore struct{ s *Server }

func (w watchStore) Read() watch.Reader { return w.s.readTxn() }
func (w watchStore) CompactRev() int64  { return w.s.compactRev() }

type watchBackend struct {
	h *watch.Hub
	s *Server
}

// CheckWatch applies read permission to a new watcher (with auth on).
func (b watchBackend) CheckWatch(ctx context.Context, key, end []byte) error {
	return b.s.checkKeys(ctx, key, end, authpb.READ)
}

func (b watchBackend) NewWatchStream() api.WatchStream { return b.h.NewStream() }
