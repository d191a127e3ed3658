package server

import (
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/grpc"
)

// initWatch creates the watch hub; called from New before apply starts.
func (s *Server) initWatch() {}

// notifyWatchers is called by the apply loop, in order, after each batch is
// committed and published (kv.Committed), with the batch's events and the
// store's revision. It must not block.
func (s *Server) notifyWatchers(evs []mvccpb.Event, rev int64) {}

// registerWatch registers the Watch service.
func (s *Server) registerWatch(g *grpc.Server) {}

// stopWatch ends the hub's goroutines after apply has stopped.
func (s *Server) stopWatch() {}
