package transport

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// Stats counts transport events.
type Stats struct {
	sentMsgs, recvMsgs, dropped, sendFailures atomic.Uint64
	sentBytes, recvBytes                      atomic.Uint64
}

// Dropped counts messages dropped because a peer's queue was full.
func (s *Stats) Dropped() uint64 { return s.dropped.Load() }

// SendFailures counts broken streams.
func (s *Stats) SendFailures() uint64 { return s.sendFailures.Load() }

// Handler serves the peer endpoints. Mount it on the peer listener.
func (t *Transport) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pathRaft, t.handleRaft)
	mux.HandleFunc(pathSnapshot, t.handleSnapshot)
	return mux
}

// checkRequest validates the sender: same cluster, not removed, addressed to
// us. It writes the refusal itself and returns 0 on failure.
func (t *Transport) checkRequest(w http.ResponseWriter, r *http.Request) uint64 {
	// A refusal closes the connection: otherwise the HTTP/1 server would
	// first try to drain the (endless) request body and the sender would
	// never hear the answer.
	refuse := func(msg string, code int) {
		w.Header().Set("Connection", "close")
		http.Error(w, msg, code)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return 0
	}
	cid, err := strconv.ParseUint(r.Header.Get(headerClusterID), 16, 64)
	if err != nil || cid != t.cfg.ClusterID {
		t.lg.Warn("refused a peer of another cluster: request cluster ID mismatch",
			zap.String("local-member-cluster-id", fmt.Sprintf("%x", t.cfg.ClusterID)),
			zap.String("remote-peer-cluster-id", r.Header.Get(headerClusterID)),
			zap.String("remote-addr", r.RemoteAddr))
		refuse("cluster ID mismatch", http.StatusPreconditionFailed)
		return 0
	}
	from, err := strconv.ParseUint(r.Header.Get(headerFrom), 16, 64)
	if err != nil || from == 0 {
		refuse("missing sender", http.StatusBadRequest)
		return 0
	}
	if t.cfg.Raft.IsRemoved(from) {
		t.lg.Warn("refused a removed member", zap.String("remote-peer-id", fmt.Sprintf("%x", from)))
		refuse("the member has been permanently removed from the cluster", http.StatusGone)
		return 0
	}
	if to, err := strconv.ParseUint(r.Header.Get(headerTo), 16, 64); err != nil || to != t.cfg.ID {
		t.lg.Warn("refused a message for another member ID",
			zap.String("local-member-id", fmt.Sprintf("%x", t.cfg.ID)),
			zap.String("to", r.Header.Get(headerTo)))
		refuse("member ID mismatch", http.StatusPreconditionFailed)
		return 0
	}
	return from
}

func (t *Transport) handleRaft(w http.ResponseWriter, r *http.Request) {
	from := t.checkRequest(w, r)
	if from == 0 {
		return
	}
	// The response is written only when the stream ends: HTTP/1 handlers
	// must read the body before answering.
	br := bufio.NewReaderSize(r.Body, 64<<10)
	var buf []byte
	var err error
	for {
		if buf, err = readFrame(br, buf); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && r.Context().Err() == nil {
				t.lg.Debug("peer stream ended", zap.Error(err))
			}
			return
		}
		var m raftpb.Message
		if err := m.Unmarshal(buf); err != nil {
			t.lg.Warn("dropping a peer stream with a damaged message", zap.Error(err))
			return
		}
		// Unmarshal copies bytes fields, so buf can be reused.
		t.stats.recvMsgs.Add(1)
		// A member removed while its stream was open is told so on that
		// stream (raft ignores its messages, so it would never learn).
		if t.cfg.Raft.IsRemoved(from) {
			t.lg.Warn("refused a removed member", zap.String("remote-peer-id", fmt.Sprintf("%x", from)))
			w.Header().Set("Connection", "close")
			http.Error(w, "the member has been permanently removed from the cluster", http.StatusGone)
			return
		}
		if err := t.cfg.Raft.Step(r.Context(), m); err != nil {
			return
		}
	}
}

// sendSnapshot streams a snapshot to p and reports the outcome to raft.
func (t *Transport) sendSnapshot(p *peer, m raftpb.Message) {
	ok := false
	defer func() { t.cfg.Raft.ReportSnapshot(p.id, ok) }()
	hdr, err := m.Marshal()
	if err != nil {
		return
	}
	pr, pw := io.Pipe()
	req, err := t.newRequest(p.ctx, p.url(), pathSnapshot, p.id, pr)
	if err != nil {
		return
	}
	req.Header.Set(headerSnapMsg, base64.StdEncoding.EncodeToString(hdr))
	go func() {
		pw.CloseWithError(t.cfg.Snapshotter.WriteSnapshot(p.ctx, pw))
	}()
	t.lg.Info("sending snapshot to peer", zap.String("peer", fmt.Sprintf("%x", p.id)), zap.Uint64("index", m.Snapshot.Metadata.Index))
	resp, err := t.client.Do(req)
	pr.Close()
	if err != nil {
		t.lg.Warn("sending snapshot failed", zap.String("peer", fmt.Sprintf("%x", p.id)), zap.Error(err))
		return
	}
	defer resp.Body.Close()
	if err := t.checkResponse(resp, p.id); err != nil {
		t.lg.Warn("peer refused snapshot", zap.Error(err))
		return
	}
	ok = true
	t.lg.Info("sent snapshot to peer", zap.String("peer", fmt.Sprintf("%x", p.id)), zap.Uint64("index", m.Snapshot.Metadata.Index))
}

func (t *Transport) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if t.checkRequest(w, r) == 0 {
		return
	}
	hdr, err := base64.StdEncoding.DecodeString(r.Header.Get(headerSnapMsg))
	var m raftpb.Message
	if err == nil {
		err = m.Unmarshal(hdr)
	}
	if err != nil || m.Type != raftpb.MsgSnap {
		http.Error(w, "bad snapshot message", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	if err := t.cfg.Snapshotter.InstallSnapshot(ctx, r.Body, m); err != nil {
		t.lg.Warn("installing snapshot failed", zap.Error(err))
		http.Error(w, "install failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if err := t.cfg.Raft.Step(context.WithoutCancel(ctx), m); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
