package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/cairndb/cairn/internal/errs"
	"github.com/cairndb/cairn/internal/membership"
	"github.com/cairndb/cairn/internal/transport"
)

const (
	pathMembers = "/cairn/members"
	pathPromote = "/cairn/members/promote/"
	// activeFor is how long a peer stream must have been up for the peer to
	// count as connected in the strict reconfiguration check.
	activeFor = 5 * time.Second
	// learnerReadyPercent is how far a learner must have caught up with the
	// leader's log to be promoted, as in etcd.
	learnerReadyPercent = 0.9
)

// confContext is the context of a membership conf change: the member, and
// the request ID whose waiter gets the outcome.
type confContext struct {
	membership.Member
	ReqID uint64 `json:"reqID,omitempty"`
}

// clusterInfo is what a member serves on its peer port for joiners.
type clusterInfo struct {
	ClusterID string              `json:"clusterID"`
	Members   []membership.Member `json:"members"`
}

// newTransport creates the peer transport; peers are added from membership.
func (s *Server) newTransport() {
	s.peerHTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: s.peerClientTLS, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}}
	s.transport = transport.New(transport.Config{
		ID:          s.id,
		ClusterID:   s.clusterID,
		Raft:        (*transportRaft)(s),
		Snapshotter: (*snapshotter)(s),
		Logger:      s.lg.Named("transport"),
		TLS:         s.peerClientTLS,
		OnRemoved:   s.onRemoved,
	})
}

// transportRaft adapts the server to transport.Raft.
type transportRaft Server

func (t *transportRaft) Step(ctx context.Context, m raftpb.Message) error {
	return t.node.Step(ctx, m)
}
func (t *transportRaft) ReportUnreachable(id uint64)       { t.node.ReportUnreachable(id) }
func (t *transportRaft) ReportSnapshot(id uint64, ok bool) { t.node.ReportSnapshot(id, ok) }
func (t *transportRaft) IsRemoved(id uint64) bool          { return t.members.IsRemoved(id) }

// syncPeers makes the transport's peers match the member list. Called after
// a membership change is applied and at start.
func (s *Server) syncPeers(extra []membership.Member) {
	if s.transport == nil {
		return
	}
	want := map[uint64][]string{}
	for _, m := range extra {
		want[m.ID] = m.PeerURLs
	}
	for _, m := range s.members.Members() {
		want[m.ID] = m.PeerURLs
	}
	for id, urls := range want {
		if id != s.id {
			s.transport.AddPeer(id, urls)
		}
	}
	for id := range s.peerIDs {
		if _, ok := want[id]; !ok {
			s.transport.RemovePeer(id)
		}
	}
	s.peerIDs = want
}

func (s *Server) onRemoved() {
	s.lg.Error("this member has been permanently removed from the cluster; stopping. Remove its data dir before adding it again")
	select {
	case s.fatalc <- errs.ErrIDRemoved:
	default:
	}
}

// Fatal delivers errors that must end the process (this member was removed).
func (s *Server) Fatal() <-chan error { return s.fatalc }

// servePeers listens on the peer URLs and serves raft traffic and the
// cluster information joiners ask for.
func (s *Server) servePeers() error {
	mux := http.NewServeMux()
	th := s.transport.Handler()
	mux.Handle("/cairn/raft", th)
	mux.Handle("/cairn/snapshot", th)
	mux.HandleFunc(pathMembers, s.handlePeerMembers)
	mux.HandleFunc(pathPromote, s.handlePeerPromote)
	mux.HandleFunc(pathLeaseRenew, s.handlePeerLeaseRenew)
	mux.HandleFunc(pathLeaseTTL, s.handlePeerLeaseTTL)
	mux.HandleFunc("/version", s.handleVersion)
	for _, u := range s.cfg.ListenPeerURLs {
		l, err := listen(u)
		if err != nil {
			return fmt.Errorf("listen on peer URL %s: %w", u.String(), err)
		}
		if s.peerServerTLS != nil {
			l = tlsListener(l, s.peerServerTLS)
		}
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, ErrorLog: s.httpErrorLog()}
		s.peerSrvs = append(s.peerSrvs, hs)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				s.lg.Warn("peer serving stopped", zap.Error(err))
			}
		}()
		s.lg.Info("serving peer traffic", zap.String("address", u.Host))
	}
	return nil
}

func (s *Server) stopPeers() {
	for _, hs := range s.peerSrvs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = hs.Shutdown(ctx)
		cancel()
		hs.Close()
	}
}

func (s *Server) handlePeerMembers(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(clusterInfo{ClusterID: strconv.FormatUint(s.clusterID, 16), Members: s.members.Members()})
}

// handlePeerPromote runs a promotion forwarded by a follower: only the leader
// knows how far the learner has caught up.
func (s *Server) handlePeerPromote(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id, err := strconv.ParseUint(strings.TrimPrefix(r.URL.Path, pathPromote), 16, 64)
	if err != nil {
		http.Error(w, "bad member ID", http.StatusBadRequest)
		return
	}
	if _, err := s.promoteLocal(r.Context(), id); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// joinExisting learns the cluster ID and this member's ID from the members
// listed in initial-cluster, for a member added with `member add`.
func (s *Server) joinExisting() ([]membership.Member, error) {
	m, err := s.cfg.InitialClusterMap()
	if err != nil {
		return nil, err
	}
	self := sortedStrings(urlStrings(s.cfg.InitialAdvertisePeerURLs))
	var lastErr error
	for name, urls := range m {
		if name == s.cfg.Name {
			continue
		}
		for _, u := range urls {
			info, err := s.fetchClusterInfo(u.String())
			if err != nil {
				lastErr = err
				continue
			}
			cid, err := strconv.ParseUint(info.ClusterID, 16, 64)
			if err != nil {
				lastErr = err
				continue
			}
			for _, mem := range info.Members {
				if equalStrings(sortedStrings(mem.PeerURLs), self) {
					s.id, s.clusterID = mem.ID, cid
					return info.Members, nil
				}
			}
			return nil, fmt.Errorf("this member's peer URLs %v are not in the cluster's member list: add it first with `member add` (cluster %s)", self, info.ClusterID)
		}
	}
	if lastErr == nil {
		lastErr = errors.New("initial-cluster lists no other member")
	}
	return nil, fmt.Errorf("could not reach the existing cluster through initial-cluster: %w", lastErr)
}

func (s *Server) fetchClusterInfo(peerURL string) (*clusterInfo, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: s.peerClientTLS}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(strings.TrimSuffix(peerURL, "/") + pathMembers)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", peerURL, resp.Status)
	}
	var info clusterInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&info); err != nil {
		return nil, fmt.Errorf("%s: %w", peerURL, err)
	}
	return &info, nil
}

// proposeConfChange proposes a membership change and waits for it to apply.
func (s *Server) proposeConfChange(ctx context.Context, typ raftpb.ConfChangeType, m membership.Member) error {
	id := s.reqIDs.next()
	cctx, err := json.Marshal(confContext{Member: m, ReqID: id})
	if err != nil {
		return err
	}
	cc := raftpb.ConfChangeV2{
		Changes: []raftpb.ConfChangeSingle{{Type: typ, NodeID: m.ID}},
		Context: cctx,
	}
	ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	defer cancel()
	ch := s.wait.register(id)
	if err := s.node.ProposeConfChange(ctx, cc); err != nil {
		// A dropped conf change is not retried: the caller decides again
		// with the new leader's view.
		s.wait.cancel(id)
		return s.mapProposeErr(ctx, err)
	}
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		s.wait.cancel(id)
		return s.mapProposeErr(ctx, ctx.Err())
	case <-s.stopc:
		s.wait.cancel(id)
		return errs.ErrStopped
	}
}

func (s *Server) memberListResponse() *pb.MemberListResponse {
	resp := &pb.MemberListResponse{Header: s.header(0)}
	for _, m := range s.members.Members() {
		resp.Members = append(resp.Members, toPBMember(m))
	}
	return resp
}

func toPBMember(m membership.Member) *pb.Member {
	return &pb.Member{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
}

// MemberAdd adds a member (or a learner) with the given peer URLs.
func (s *Server) MemberAdd(ctx context.Context, peerURLs []string, learner bool) (*pb.MemberAddResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	urls, err := checkPeerURLs(peerURLs)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	m := membership.Member{ID: membership.ComputeMemberID(urls, "", now.Unix()), PeerURLs: urls, IsLearner: learner}
	existing := s.members.Members()
	for _, e := range existing {
		if e.ID == m.ID {
			return nil, errs.ErrIDExists
		}
		for _, u := range e.PeerURLs {
			for _, nu := range urls {
				if u == nu {
					return nil, errs.ErrPeerURLExist
				}
			}
		}
	}
	if s.members.IsRemoved(m.ID) {
		return nil, errs.ErrIDRemoved
	}
	typ := raftpb.ConfChangeAddNode
	if learner {
		typ = raftpb.ConfChangeAddLearnerNode
		n := 0
		for _, e := range existing {
			if e.IsLearner {
				n++
			}
		}
		if n+1 > s.cfg.MaxLearners {
			return nil, errs.ErrTooManyLearners
		}
	} else if s.cfg.StrictReconfigCheck {
		if err := s.readyToAddVoter(existing); err != nil {
			return nil, err
		}
	}
	if err := s.proposeConfChange(ctx, typ, m); err != nil {
		return nil, err
	}
	resp := &pb.MemberAddResponse{Header: s.header(0), Member: toPBMember(m)}
	resp.Members = s.memberListResponse().Members
	return resp, nil
}

// MemberRemove removes a member.
func (s *Server) MemberRemove(ctx context.Context, id uint64) (*pb.MemberRemoveResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	m, ok := s.members.Member(id)
	if !ok {
		if s.members.IsRemoved(id) {
			return nil, errs.ErrMemberNotFound
		}
		return nil, errs.ErrMemberNotFound
	}
	if s.cfg.StrictReconfigCheck && !m.IsLearner {
		if err := s.readyToRemoveVoter(id); err != nil {
			return nil, err
		}
	}
	if err := s.proposeConfChange(ctx, raftpb.ConfChangeRemoveNode, membership.Member{ID: id}); err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: s.header(0), Members: s.memberListResponse().Members}, nil
}

// MemberUpdate changes a member's peer URLs.
func (s *Server) MemberUpdate(ctx context.Context, id uint64, peerURLs []string) (*pb.MemberUpdateResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	urls, err := checkPeerURLs(peerURLs)
	if err != nil {
		return nil, err
	}
	m, ok := s.members.Member(id)
	if !ok {
		return nil, errs.ErrMemberNotFound
	}
	for _, e := range s.members.Members() {
		if e.ID == id {
			continue
		}
		for _, u := range e.PeerURLs {
			for _, nu := range urls {
				if u == nu {
					return nil, errs.ErrPeerURLExist
				}
			}
		}
	}
	m.PeerURLs = urls
	if err := s.proposeConfChange(ctx, raftpb.ConfChangeUpdateNode, m); err != nil {
		return nil, err
	}
	return &pb.MemberUpdateResponse{Header: s.header(0), Members: s.memberListResponse().Members}, nil
}

// MemberPromote turns a learner that has caught up into a voting member. A
// follower forwards the request to the leader.
func (s *Server) MemberPromote(ctx context.Context, id uint64) (*pb.MemberPromoteResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	forwarded, err := s.promoteLocal(ctx, id)
	if err != nil {
		return nil, err
	}
	if forwarded {
		// Wait until this member has applied the promotion too.
		if err := s.linearizableReadNotify(ctx); err != nil {
			return nil, err
		}
	}
	return &pb.MemberPromoteResponse{Header: s.header(0), Members: s.memberListResponse().Members}, nil
}

// promoteLocal promotes on the leader, or forwards to it.
func (s *Server) promoteLocal(ctx context.Context, id uint64) (forwarded bool, err error) {
	m, ok := s.members.Member(id)
	if !ok {
		return false, errs.ErrMemberNotFound
	}
	if !m.IsLearner {
		return false, errs.ErrMemberNotLearner
	}
	prs, last, leader, err := s.node.LeaderProgress(ctx)
	if err != nil {
		return false, s.mapReadErr(err)
	}
	if !leader {
		return true, s.forwardPromote(ctx, id)
	}
	pr, ok := prs[id]
	if !ok || float64(pr.Match) < float64(last)*learnerReadyPercent {
		return false, errs.ErrLearnerNotReady
	}
	m.IsLearner = false
	return false, s.proposeConfChange(ctx, raftpb.ConfChangeAddNode, m)
}

var promoteErrors = []error{errs.ErrMemberNotFound, errs.ErrMemberNotLearner, errs.ErrLearnerNotReady, errs.ErrNoLeader, errs.ErrTimeout, errs.ErrStopped}

func (s *Server) forwardPromote(ctx context.Context, id uint64) error {
	lead := s.node.Leader()
	if lead == 0 {
		return errs.ErrNoLeader
	}
	lm, ok := s.members.Member(lead)
	if !ok || len(lm.PeerURLs) == 0 {
		return errs.ErrNoLeader
	}
	ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(lm.PeerURLs[0], "/")+pathPromote+strconv.FormatUint(id, 16), nil)
	if err != nil {
		return err
	}
	resp, err := s.peerHTTP.Do(req)
	if err != nil {
		return errs.ErrTimeout
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var body map[string]string
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body)
	for _, e := range promoteErrors {
		if e.Error() == body["error"] {
			return e
		}
	}
	return fmt.Errorf("promote on leader: %s", body["error"])
}

// readyToAddVoter is etcd's strict reconfiguration check for adding a voting
// member: the grown cluster must keep a quorum of started, connected members.
func (s *Server) readyToAddVoter(existing []membership.Member) error {
	nmembers, nstarted := 1, 0
	for _, m := range existing {
		if m.IsLearner {
			continue
		}
		nmembers++
		if m.Name != "" {
			nstarted++
		}
	}
	quorum := nmembers/2 + 1
	if nstarted < quorum {
		return errs.ErrNotEnoughStartedMembers
	}
	if s.connectedVoters(existing, 0) < quorum {
		return errs.ErrUnhealthy
	}
	return nil
}

// readyToRemoveVoter: the shrunk cluster must keep a quorum of started,
// connected members.
func (s *Server) readyToRemoveVoter(id uint64) error {
	existing := s.members.Members()
	nmembers, nstarted := 0, 0
	for _, m := range existing {
		if m.IsLearner || m.ID == id {
			continue
		}
		nmembers++
		if m.Name != "" {
			nstarted++
		}
	}
	quorum := nmembers/2 + 1
	if nstarted < quorum {
		return errs.ErrNotEnoughStartedMembers
	}
	if s.connectedVoters(existing, id) < quorum {
		return errs.ErrUnhealthy
	}
	return nil
}

// connectedVoters counts voting members other than skip that this member has
// been connected to for activeFor, itself included.
func (s *Server) connectedVoters(ms []membership.Member, skip uint64) int {
	n := 0
	now := time.Now()
	for _, m := range ms {
		if m.IsLearner || m.ID == skip {
			continue
		}
		if m.ID == s.id {
			n++
			continue
		}
		since := s.transport.ActiveSince(m.ID)
		if r := s.reachableSince(m.ID); !r.IsZero() && (since.IsZero() || r.Before(since)) {
			since = r
		}
		if !since.IsZero() && now.Sub(since) >= activeFor {
			n++
		}
	}
	return n
}

func checkPeerURLs(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, errs.ErrInvalidPeerURLs
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix" && u.Scheme != "unixs") || u.Host == "" {
			return nil, errs.ErrInvalidPeerURLs
		}
		if u.Scheme == "http" || u.Scheme == "https" {
			if _, _, err := net.SplitHostPort(u.Host); err != nil {
				return nil, errs.ErrInvalidPeerURLs
			}
		}
		out = append(out, u.String())
	}
	sort.Strings(out)
	return out, nil
}

// MoveLeader hands leadership to target and waits until it has it.
func (s *Server) MoveLeader(ctx context.Context, target uint64) (*pb.MoveLeaderResponse, error) {
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	if !s.node.IsLeader() {
		return nil, errs.ErrNotLeader
	}
	m, ok := s.members.Member(target)
	if !ok || m.IsLearner {
		return nil, errs.ErrBadLeaderTransferee
	}
	if target == s.id {
		return &pb.MoveLeaderResponse{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.reqTimeout)
	defer cancel()
	s.lg.Info("leadership transfer starting", zap.String("transferee", fmt.Sprintf("%x", target)))
	if err := s.node.TransferLeadership(ctx, target); err != nil {
		return nil, s.mapReadErr(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.node.Leader() != target {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, errs.ErrTimeout
		case <-s.stopc:
			return nil, errs.ErrStopped
		}
	}
	return &pb.MoveLeaderResponse{}, nil
}

func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// handOverLeadership moves leadership to the most caught-up voter before a
// leader stops, as etcd does on shutdown, so the cluster keeps a leader
// instead of waiting out an election timeout.
func (s *Server) handOverLeadership(ctx context.Context) {
	if !s.node.IsLeader() {
		return
	}
	prs, _, leader, err := s.node.LeaderProgress(ctx)
	if err != nil || !leader {
		return
	}
	var target, best uint64
	for id, pr := range prs {
		if id == s.id || pr.Learner {
			continue
		}
		if target == 0 || pr.Match > best || (pr.Match == best && id < target) {
			target, best = id, pr.Match
		}
	}
	if target == 0 {
		return
	}
	wait := 2 * time.Duration(s.cfg.ElectionMs) * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	s.lg.Info("handing leadership over before stopping", zap.String("transferee", fmt.Sprintf("%x", target)))
	if err := s.node.TransferLeadership(ctx, target); err != nil {
		return
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.node.Leader() == s.id {
		select {
		case <-t.C:
		case <-ctx.Done():
			s.lg.Warn("leadership hand-over did not finish before stopping")
			return
		}
	}
}
