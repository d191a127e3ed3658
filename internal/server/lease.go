package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/errs"
	"github.com/cairndb/cairn/internal/lease"
)

const (
	pathLeaseRenew = "/cairn/leases/renew"
	pathLeaseTTL   = "/cairn/leases/ttl"

	// leaseTick is how often the leader looks for expired leases. etcd
	// looks every 500 ms and revokes up to 500 at once; ten smaller bursts
	// a second keep the same rate with a fifth of the queue in front of a
	// client's request during a mass expiry.
	leaseTick = 100 * time.Millisecond
	// leaseRevokeRate bounds expiry revocations per second, as etcd does,
	// so a mass expiry never stalls apply.
	leaseRevokeRate = 1000
	// leaseCheckpointInterval is how often the leader records remaining
	// TTLs through raft, so a new leader does not reset them.
	leaseCheckpointInterval = 5 * time.Minute
)

// minLeaseTTL is etcd's minimum TTL: ceil(1.5 × election timeout) seconds.
func minLeaseTTL(electionTicks int, tickMs uint) int64 {
	d := time.Duration(3*electionTicks/2) * time.Duration(tickMs) * time.Millisecond
	return int64(math.Ceil(d.Seconds()))
}

// Header returns a response header at the current revision.
func (s *Server) Header() *pb.ResponseHeader { return s.header(s.rev()) }

// LeaseGrant grants a lease through raft; ID 0 lets the server pick one.
func (s *Server) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if r.TTL > lease.MaxTTL {
		return nil, lease.ErrTTLTooLarge
	}
	if err := s.checkQuota(ctx, r.Size()); err != nil {
		return nil, err
	}
	req := *r
	for req.ID == 0 {
		req.ID = int64(s.reqIDs.next() & math.MaxInt64)
	}
	res, err := s.propose(ctx, &pb.InternalRaftRequest{LeaseGrant: &req})
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	resp := res.Resp.(*pb.LeaseGrantResponse)
	s.fillHeader(&resp.Header)
	return resp, nil
}

// LeaseRevoke revokes a lease through raft, deleting its keys.
func (s *Server) LeaseRevoke(ctx context.Context, id int64) (*pb.LeaseRevokeResponse, error) {
	if s.auth.Enabled() {
		// Revoking deletes the lease's keys: the caller must be allowed to.
		keys, err := s.lessor.Keys(id, s.db)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			if err := s.checkKeys(ctx, k, nil, authpb.WRITE); err != nil {
				return nil, err
			}
		}
	}
	res, err := s.propose(ctx, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}})
	if err != nil {
		return nil, err
	}
	if res.Err != nil {
		return nil, res.Err
	}
	resp := res.Resp.(*pb.LeaseRevokeResponse)
	s.fillHeader(&resp.Header)
	return resp, nil
}

// LeaseRenew keeps a lease alive. Only the leader keeps deadlines; a
// follower forwards the renewal to it.
func (s *Server) LeaseRenew(ctx context.Context, id int64) (int64, error) {
	for {
		if s.lessor.IsPrimary() {
			ttl, clearCP, err := s.lessor.Renew(id)
			if errors.Is(err, lease.ErrNotPrimary) {
				continue
			}
			if err == nil && clearCP {
				s.clearCheckpoint(id)
			}
			return ttl, err
		}
		ttl, err := s.forwardLeaseRenew(ctx, id)
		if errors.Is(err, errRetryLeader) {
			if werr := s.waitLeaderChange(ctx); werr != nil {
				return 0, werr
			}
			continue
		}
		return ttl, err
	}
}

// LeaseTimeToLive reports a lease's TTLs and, when asked, its keys, from the
// leader: only the leader keeps deadlines, and its key list includes every
// write it has acknowledged.
func (s *Server) LeaseTimeToLive(ctx context.Context, id int64, keys bool) (*pb.LeaseTimeToLiveResponse, error) {
	for {
		var a ttlAnswer
		var err error
		if s.lessor.IsPrimary() {
			a, err = s.localTTL(id, keys)
			if errors.Is(err, lease.ErrNotPrimary) {
				continue
			}
		} else {
			a, err = s.forwardLeaseTTL(ctx, id, keys)
			if errors.Is(err, errRetryLeader) {
				if werr := s.waitLeaderChange(ctx); werr != nil {
					return nil, werr
				}
				continue
			}
		}
		if err != nil {
			return nil, err
		}
		return &pb.LeaseTimeToLiveResponse{Header: s.Header(), ID: id, TTL: a.Remaining, GrantedTTL: a.Granted, Keys: a.Keys}, nil
	}
}

func (s *Server) localTTL(id int64, keys bool) (ttlAnswer, error) {
	g, rem, err := s.lessor.TimeToLive(id)
	if err != nil {
		return ttlAnswer{}, err
	}
	a := ttlAnswer{Granted: g, Remaining: rem}
	if keys {
		if a.Keys, err = s.lessor.Keys(id, s.db); err != nil {
			return ttlAnswer{}, err
		}
	}
	return a, nil
}

// LeaseLeases lists every lease.
func (s *Server) LeaseLeases(ctx context.Context) (*pb.LeaseLeasesResponse, error) {
	resp := &pb.LeaseLeasesResponse{Header: s.Header()}
	for _, id := range s.lessor.IDs() {
		resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: id})
	}
	return resp, nil
}

func (s *Server) clearCheckpoint(id int64) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), s.reqTimeout)
		defer cancel()
		_, _ = s.propose(ctx, &pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{
			Checkpoints: []*pb.LeaseCheckpoint{{ID: id, Remaining_TTL: 0}},
		}})
	}()
}

// onTermStart runs when apply reaches the empty entry a leader appends at
// the start of its term. On the leader, every entry before it is applied, so
// every granted lease gets a deadline: TTL (or checkpointed remaining TTL)
// plus one election timeout. Grants applied after it get exactly their TTL.
func (s *Server) onTermStart(term uint64) {
	if s.node.IsLeader() && s.node.Term() == term && !s.lessor.IsPrimary() {
		s.lessor.Promote(time.Duration(s.cfg.ElectionMs) * time.Millisecond)
		s.lg.Info("became the primary lessor", zap.String("member-id", fmt.Sprintf("%x", s.id)), zap.Uint64("term", term))
	}
}

// onLeadership follows raft: a member that stops being leader stops
// deciding expiry at once.
func (s *Server) onLeadership(isLeader bool) {
	if !isLeader && s.lessor.IsPrimary() {
		s.lessor.Demote()
		s.lg.Info("stopped being the primary lessor", zap.String("member-id", fmt.Sprintf("%x", s.id)))
	}
}

// runLeases is the primary lessor's loop: it revokes expired leases at a
// bounded rate and checkpoints remaining TTLs.
func (s *Server) runLeases() {
	defer s.wg.Done()
	t := time.NewTicker(leaseTick)
	defer t.Stop()
	lastCP := time.Now()
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		select {
		case <-s.stopc:
			return
		case <-t.C:
		}
		if !s.lessor.IsPrimary() {
			continue
		}
		limit := leaseRevokeRate * int(leaseTick) / int(time.Second)
		for _, id := range s.lessor.Expired(limit) {
			id := id
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				ctx, cancel := context.WithTimeout(context.Background(), s.reqTimeout)
				defer cancel()
				if _, err := s.LeaseRevoke(ctx, id); err != nil && !errors.Is(err, lease.ErrNotFound) {
					s.lg.Warn("failed to revoke an expired lease", zap.String("lease", fmt.Sprintf("%x", id)), zap.Error(err))
				}
			}()
		}
		inflight.Wait()
		if time.Since(lastCP) >= leaseCheckpointInterval {
			lastCP = time.Now()
			rem := s.lessor.Remaining(1000)
			if len(rem) > 0 {
				cp := &pb.LeaseCheckpointRequest{}
				for id, r := range rem {
					cp.Checkpoints = append(cp.Checkpoints, &pb.LeaseCheckpoint{ID: id, Remaining_TTL: r})
				}
				ctx, cancel := context.WithTimeout(context.Background(), s.reqTimeout)
				_, _ = s.propose(ctx, &pb.InternalRaftRequest{LeaseCheckpoint: cp})
				cancel()
			}
		}
	}
}

var errRetryLeader = errors.New("server: leader changed, retry")

func (s *Server) waitLeaderChange(ctx context.Context) error {
	select {
	case <-time.After(50 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stopc:
		return errs.ErrStopped
	}
}

func (s *Server) leaderPeerURL() (string, error) {
	lead := s.node.Leader()
	if lead == 0 {
		return "", errRetryLeader
	}
	if lead == s.id {
		// Leader but not primary yet: wait for the promotion.
		return "", errRetryLeader
	}
	m, ok := s.members.Member(lead)
	if !ok || len(m.PeerURLs) == 0 {
		return "", errRetryLeader
	}
	return strings.TrimSuffix(m.PeerURLs[0], "/"), nil
}

func (s *Server) peerPost(ctx context.Context, path string, body []byte) (*http.Response, error) {
	u, err := s.leaderPeerURL()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+path, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := s.peerHTTP.Do(req)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, errs.ErrTimeout
		}
		return nil, errRetryLeader
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error { err := b.ReadCloser.Close(); b.cancel(); return err }

func (s *Server) forwardLeaseRenew(ctx context.Context, id int64) (int64, error) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(id))
	resp, err := s.peerPost(ctx, pathLeaseRenew, b[:])
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return decodeLeaseAnswer(resp, func(body []byte) (int64, error) {
		if len(body) != 8 {
			return 0, fmt.Errorf("server: bad lease renew answer")
		}
		return int64(binary.BigEndian.Uint64(body)), nil
	})
}

type ttlAnswer struct {
	Granted   int64    `json:"granted"`
	Remaining int64    `json:"remaining"`
	Keys      [][]byte `json:"keys,omitempty"`
}

func (s *Server) forwardLeaseTTL(ctx context.Context, id int64, keys bool) (ttlAnswer, error) {
	var b [9]byte
	binary.BigEndian.PutUint64(b[:8], uint64(id))
	if keys {
		b[8] = 1
	}
	resp, err := s.peerPost(ctx, pathLeaseTTL, b[:])
	if err != nil {
		return ttlAnswer{}, err
	}
	defer resp.Body.Close()
	var a ttlAnswer
	_, err = decodeLeaseAnswer(resp, func(body []byte) (int64, error) {
		return 0, json.Unmarshal(body, &a)
	})
	return a, err
}

func decodeLeaseAnswer(resp *http.Response, decode func([]byte) (int64, error)) (int64, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, errRetryLeader
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return decode(body)
	case http.StatusNotFound:
		return 0, lease.ErrNotFound
	case http.StatusMisdirectedRequest:
		return 0, errRetryLeader
	}
	return 0, fmt.Errorf("server: leader answered %s: %s", resp.Status, body)
}

// readLeaseID reads a forwarded lease request: the ID (8 bytes) and an
// optional flag byte (1 = list the keys too).
func readLeaseID(w http.ResponseWriter, r *http.Request) (id int64, flag bool, ok bool) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return 0, false, false
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 16))
	if err != nil || len(b) < 8 {
		http.Error(w, "bad lease ID", http.StatusBadRequest)
		return 0, false, false
	}
	return int64(binary.BigEndian.Uint64(b)), len(b) > 8 && b[8] == 1, true
}

func (s *Server) handlePeerLeaseRenew(w http.ResponseWriter, r *http.Request) {
	id, _, ok := readLeaseID(w, r)
	if !ok {
		return
	}
	ttl, clearCP, err := s.lessor.Renew(id)
	switch {
	case errors.Is(err, lease.ErrNotPrimary):
		http.Error(w, "not the leader", http.StatusMisdirectedRequest)
		return
	case errors.Is(err, lease.ErrNotFound):
		http.Error(w, "lease not found", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if clearCP {
		s.clearCheckpoint(id)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(ttl))
	_, _ = w.Write(b[:])
}

func (s *Server) handlePeerLeaseTTL(w http.ResponseWriter, r *http.Request) {
	id, keys, ok := readLeaseID(w, r)
	if !ok {
		return
	}
	a, err := s.localTTL(id, keys)
	switch {
	case errors.Is(err, lease.ErrNotPrimary):
		http.Error(w, "not the leader", http.StatusMisdirectedRequest)
		return
	case errors.Is(err, lease.ErrNotFound):
		http.Error(w, "lease not found", http.StatusNotFound)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	_ = json.NewEncoder(w).Encode(a)
}
