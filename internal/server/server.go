// Package server is Cairn's composition root: it opens storage, starts raft
// and the apply loop, serves the gRPC and HTTP APIs, and stops them again.
// Requests flow api -> server.propose -> raft -> apply -> waiter -> reply;
// reads wait for a read index and are served from local state.
package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/cairndb/cairn/internal/apply"
	"github.com/cairndb/cairn/internal/auth"
	"github.com/cairndb/cairn/internal/config"
	"github.com/cairndb/cairn/internal/errs"
	"github.com/cairndb/cairn/internal/lease"
	"github.com/cairndb/cairn/internal/membership"
	"github.com/cairndb/cairn/internal/metrics"
	"github.com/cairndb/cairn/internal/mvcc"
	"github.com/cairndb/cairn/internal/raftlog"
	"github.com/cairndb/cairn/internal/raftnode"
	"github.com/cairndb/cairn/internal/storage"
	"github.com/cairndb/cairn/internal/transport"
)

var errStopped = errs.ErrStopped

// keyLocal holds this member's identity: its ID and the cluster ID.
var keyLocal = []byte("\x00local")

// Server is one running Cairn member.
type Server struct {
	cfg *config.Config
	lg  *zap.Logger

	db      *pebble.DB
	rlog    *raftlog.Log
	kv      *mvcc.Store
	members *membership.Store
	lessor  *lease.Lessor
	alarms  *apply.Alarms
	auth    *auth.Store
	applier *apply.Applier
	node    *raftnode.Node
	// downgrade is the replicated downgrade job (Maintenance.Downgrade).
	downgrade *apply.Downgrade

	id, clusterID uint64
	reqIDs        *idGen
	wait          *waitMap
	applied       appliedWait
	reqTimeout    time.Duration
	maxReqBytes   int
	watch         watchState

	transport       *transport.Transport
	peerIDs         map[uint64][]string // owned by the apply goroutine after start
	peerSrvs        []*http.Server
	peerClientTLS   *tls.Config
	peerServerTLS   *tls.Config
	clientServerTLS *tls.Config
	peerHTTP        *http.Client // to other members' peer ports
	fatalc          chan error
	// stateMu is held for writing while a snapshot replaces the state, and
	// for reading while a reader takes its view of it.
	stateMu sync.RWMutex

	metrics     *metrics.Metrics
	pending     atomic.Int64 // proposals waiting to be applied
	dbSizeCache atomic.Pointer[dbSizeSample]
	reach       struct {
		mu    sync.Mutex
		since map[uint64]time.Time // peer -> answering probes since
	}
	grpc      *grpc.Server
	gw        *gateway
	local     *localConn
	httpSrvs  []*http.Server
	listeners []net.Listener
	closers   []io.Closer

	stopc    chan struct{}
	readyc   chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // apply loop, publish, serving goroutines
}

// New opens the member's data dir and starts raft. It returns once the
// member has its state loaded; Serve starts the client listeners.
func New(cfg *config.Config, lg *zap.Logger) (*Server, error) {
	s := &Server{
		cfg:         cfg,
		lg:          lg,
		wait:        newWaitMap(),
		stopc:       make(chan struct{}),
		readyc:      make(chan struct{}),
		fatalc:      make(chan error, 1),
		maxReqBytes: int(cfg.MaxRequestBytes),
		reqTimeout:  5*time.Second + 2*time.Duration(cfg.ElectionMs)*time.Millisecond,
	}
	// TLS files are checked first: a bad one must leave no data dir behind.
	if err := s.setupTLS(); err != nil {
		return nil, err
	}
	fatal := func(msg string) { s.lg.Error(msg); _ = s.lg.Sync() }
	db, err := storage.Open(cfg.DataDir, storage.Options{
		NoSync: cfg.UnsafeNoFsync,
		Fatal:  fatal,
	})
	if err != nil {
		return nil, err
	}
	s.db = db
	ok := false
	defer func() {
		if !ok {
			s.closeStorage()
		}
	}()
	logStart := time.Now()
	if s.rlog, err = raftlog.Open(raftlog.Options{
		Dir:    storage.RaftDir(cfg.DataDir),
		DB:     db,
		NoSync: cfg.UnsafeNoFsync,
		Fatal:  func(msg string) { storage.Exit(fatal, "storage failure, stopping: "+msg) },
	}); err != nil {
		return nil, err
	}
	{
		first, _ := s.rlog.Storage().FirstIndex()
		last, _ := s.rlog.Storage().LastIndex()
		lg.Info("raft log loaded", zap.Uint64("snapshot-index", s.rlog.SnapshotMeta().Index), zap.Uint64("first-index", first), zap.Uint64("last-index", last), zap.Duration("took", time.Since(logStart)))
	}
	if err := installPendingSnapshot(db, s.rlog, cfg.DataDir, lg); err != nil {
		return nil, err
	}
	if s.members, err = membership.Load(db); err != nil {
		return nil, err
	}
	if s.lessor, err = lease.Open(db, lease.Config{MinTTL: minLeaseTTL(cfg.ElectionTicks(), cfg.TickMs)}); err != nil {
		return nil, err
	}
	if s.kv, err = mvcc.NewStore(db, s.mvccConfig()); err != nil {
		return nil, err
	}
	if s.alarms, err = apply.LoadAlarms(db); err != nil {
		return nil, err
	}
	if s.downgrade, err = apply.LoadDowngrade(db); err != nil {
		return nil, err
	}
	if s.auth, err = auth.Open(db, int(cfg.AuthTokenTTL)); err != nil {
		return nil, err
	}
	if s.applier, err = apply.New(db, s.kv, s.members, s.lessor, s.alarms, lg.Named("apply")); err != nil {
		return nil, err
	}
	s.applier.OnEmptyEntry = s.onTermStart
	s.applier.Auth = s.auth
	s.applier.Downgrade = s.downgrade
	var bootstrap []raftnode.Peer
	var known []membership.Member // peers to talk to before membership is applied
	switch {
	case !s.rlog.Fresh():
		if err := s.loadLocal(); err != nil {
			return nil, err
		}
	case cfg.InitialClusterState == "existing":
		if known, err = s.joinExisting(); err != nil {
			return nil, err
		}
		if err := s.saveLocal(); err != nil {
			return nil, err
		}
	default:
		if bootstrap, err = s.bootstrapNew(); err != nil {
			return nil, err
		}
		for _, p := range bootstrap {
			var m membership.Member
			if err := json.Unmarshal(p.Context, &m); err == nil {
				known = append(known, m)
			}
		}
	}
	s.newTransport()
	s.syncPeers(known)
	s.reach.since = map[uint64]time.Time{}
	s.reqIDs = newIDGen(s.id, time.Now())
	s.initMetrics()
	s.applied.set(s.applier.AppliedIndex())
	s.node, err = raftnode.Start(raftnode.Config{
		ID:             s.id,
		Log:            s.rlog,
		Logger:         lg.Named("raft"),
		TickInterval:   time.Duration(cfg.TickMs) * time.Millisecond,
		ElectionTicks:  cfg.ElectionTicks(),
		HeartbeatTicks: 1,
		PreVote:        cfg.PreVote,
		CheckQuorum:    true,
		Bootstrap:      bootstrap,
		Transport:      s.transport,
		SnapshotCount:  cfg.SnapshotCount,
		CatchUpEntries: cfg.SnapshotCatchUpEntries,
		OnSave: func(d time.Duration, synced bool) {
			s.metrics.WALFsync.Observe(d.Seconds())
		},
		OnLeadership: s.onLeadership,
	}, s.applier.AppliedIndex())
	if err != nil {
		return nil, err
	}
	s.initWatch()
	if err := s.servePeers(); err != nil {
		s.node.Stop()
		s.transport.Stop()
		s.stopPeers()
		return nil, err
	}
	ok = true
	s.lg.Info("member started",
		zap.String("name", cfg.Name),
		zap.String("member-id", fmt.Sprintf("%x", s.id)),
		zap.String("cluster-id", fmt.Sprintf("%x", s.clusterID)),
		zap.String("data-dir", cfg.DataDir),
		zap.Uint64("applied-index", s.applier.AppliedIndex()),
		zap.Int64("revision", s.kv.Rev()))
	s.wg.Add(5)
	go s.applyLoop()
	go s.publish()
	go s.runLeases()
	go s.probePeers()
	go s.runAutoCompaction()
	return s, nil
}

// bootstrapNew computes the member and cluster IDs of a new cluster from
// initial-cluster and the token, and records them before raft starts.
func (s *Server) bootstrapNew() ([]raftnode.Peer, error) {
	m, err := s.cfg.InitialClusterMap()
	if err != nil {
		return nil, err
	}
	var ids []uint64
	var peers []raftnode.Peer
	for name, urls := range m {
		us := urlStrings(urls)
		id := membership.ComputeMemberID(us, s.cfg.InitialClusterToken, 0)
		ids = append(ids, id)
		peers = append(peers, raftnode.Peer{ID: id, Context: membership.EncodeContext(membership.Member{ID: id, Name: name, PeerURLs: us})})
		if name == s.cfg.Name {
			s.id = id
		}
	}
	if s.id == 0 {
		return nil, fmt.Errorf("couldn't find local name %q in the initial cluster configuration", s.cfg.Name)
	}
	s.clusterID = membership.ComputeClusterID(ids)
	if err := s.saveLocal(); err != nil {
		return nil, err
	}
	// raft.Bootstrap wants peers in a stable order.
	sortPeers(peers)
	return peers, nil
}

func (s *Server) saveLocal() error {
	var v [16]byte
	binary.BigEndian.PutUint64(v[:8], s.id)
	binary.BigEndian.PutUint64(v[8:], s.clusterID)
	if err := s.db.Set(keyLocal, v[:], storage.WriteSync(s.cfg.UnsafeNoFsync)); err != nil {
		return fmt.Errorf("record member identity: %w", err)
	}
	return nil
}

func (s *Server) loadLocal() error {
	v, closer, err := s.db.Get(keyLocal)
	if err != nil {
		return fmt.Errorf("read member identity from %s: %w (the data dir is damaged)", s.cfg.DataDir, err)
	}
	defer closer.Close()
	if len(v) != 16 {
		return fmt.Errorf("member identity record in %s is damaged", s.cfg.DataDir)
	}
	s.id = binary.BigEndian.Uint64(v[:8])
	s.clusterID = binary.BigEndian.Uint64(v[8:])
	return nil
}

func (s *Server) mvccConfig() mvcc.Config {
	return mvcc.Config{Logger: s.lg.Named("mvcc"), Lessor: s.lessor, CompactionBatchLimit: s.cfg.CompactionBatchLimit}
}

// ID is this member's ID.
func (s *Server) ID() uint64 { return s.id }

// ClusterID is the cluster's ID.
func (s *Server) ClusterID() uint64 { return s.clusterID }

// Ready is closed once the member has published itself and can serve.
func (s *Server) Ready() <-chan struct{} { return s.readyc }

// Stopping is closed when Stop begins.
func (s *Server) Stopping() <-chan struct{} { return s.stopc }

// Stop shuts the member down: listeners first, then raft, then apply, then
// storage. It is safe to call more than once.
func (s *Server) Stop(ctx context.Context) {
	s.stopOnce.Do(func() {
		s.handOverLeadership(ctx)
		close(s.stopc)
		s.stopServing(ctx)
		s.stopPeers()
		s.transport.Stop()
		s.node.Stop()
		s.wg.Wait()
		s.stopWatch()
		s.closeStorage()
		s.lg.Info("member stopped", zap.String("member-id", fmt.Sprintf("%x", s.id)))
	})
}

func (s *Server) closeStorage() {
	if s.auth != nil {
		s.auth.Close()
	}
	if s.kv != nil {
		if err := s.kv.Close(); err != nil {
			s.lg.Warn("closing mvcc store", zap.Error(err))
		}
	}
	if s.rlog != nil {
		if err := s.rlog.Close(); err != nil {
			s.lg.Warn("closing the raft log", zap.Error(err))
		}
	}
	if s.db != nil {
		// Flush the memtables: the next start then opens without
		// replaying Pebble's WAL, which after a load of 1M keys took it
		// 350-450 ms of a 500-600 ms restart (150 ms once flushed).
		if err := s.db.Flush(); err != nil {
			s.lg.Warn("flushing the database", zap.Error(err))
		}
		if err := s.db.Close(); err != nil {
			s.lg.Warn("closing database", zap.Error(err))
		}
	}
}

// applyLoop is the only writer of the state machine.
func (s *Server) applyLoop() {
	defer s.wg.Done()
	type pending struct {
		id  uint64
		res apply.Result
	}
	var results []pending
	done := func(id uint64, r apply.Result) { results = append(results, pending{id, r}) }
	committed := s.node.CommittedEntries()
	for {
		var ents []raftnode.Entry
		select {
		case e, ok := <-committed:
			if !ok {
				return
			}
			ents = e
		}
		if len(ents) == 1 && ents[0].Kind == raftnode.EntrySnapshot {
			if err := s.installSnapshot(ents[0].Index); err != nil {
				// Raft has dropped its log for this snapshot: there is no
				// going on without it. The file stays for the next start.
				s.lg.Fatal("installing the snapshot raft took failed; stopping (the next start retries it)", zap.Uint64("snapshot-index", ents[0].Index), zap.Error(err))
			}
			s.notifyWatchers(nil, s.rev())
			s.syncPeers(nil)
			continue
		}
		b := s.db.NewIndexedBatchWithSize(applyBatchSize(ents))
		results = results[:0]
		evs := s.applier.Apply(b, ents, done)
		if !b.Empty() {
			start := time.Now()
			if err := storage.Commit(b, pebble.NoSync); err != nil {
				s.lg.Fatal("applying committed entries failed; stopping to protect the data", zap.Error(err))
			}
			s.metrics.BackendCommit.Observe(time.Since(start).Seconds())
		}
		b.Close()
		s.kv.Committed()
		s.notifyWatchers(evs, s.kv.Rev())
		idx := s.applier.AppliedIndex()
		s.applied.set(idx)
		s.node.SetApplied(idx)
		for _, p := range results {
			s.wait.trigger(p.id, p.res)
		}
		for i := range ents {
			if ents[i].Kind == raftnode.EntryConfChange {
				s.syncPeers(nil)
				if s.members.IsRemoved(s.id) {
					s.onRemoved()
				}
				break
			}
		}
	}
}

// applyBatchSize is the room to reserve in the batch that applies ents: 0
// (pebble's pooled batches) unless the entries are large, when growing the
// batch by doubling would copy it again and again. A put's value goes into
// the state once or twice (value.go in mvcc), plus keys and the event.
func applyBatchSize(ents []raftnode.Entry) int {
	n := 0
	for i := range ents {
		n += 2*len(ents[i].Data) + 128
	}
	if n < 1<<20 {
		return 0
	}
	return n
}

// readTxn takes a consistent view of the key-value state.
func (s *Server) readTxn() *mvcc.ReadTxn {
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	return s.kv.Read()
}

// compactRev is the committed compaction revision.
func (s *Server) compactRev() int64 {
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	return s.kv.CompactRev()
}

// rev is the current committed revision.
func (s *Server) rev() int64 {
	s.stateMu.RLock()
	defer s.stateMu.RUnlock()
	return s.kv.Rev()
}

func urlStrings(us []url.URL) []string {
	out := make([]string, len(us))
	for i := range us {
		out[i] = us[i].String()
	}
	return out
}

func sortPeers(p []raftnode.Peer) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].ID < p[j-1].ID; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}
