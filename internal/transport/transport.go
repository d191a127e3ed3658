// Package transport carries raft messages and snapshots between members over
// HTTP on the peer port.
//
// Each remote peer has one sender goroutine that keeps a long-lived streaming
// POST to the peer's /cairn/raft open and writes length-prefixed messages to
// it from a bounded queue. A full queue drops messages (raft retransmits) and
// reports the peer unreachable, so a slow or dead peer never blocks raft or
// the other peers. Snapshots go on their own POST to /cairn/snapshot, with
// the state streamed in the body, so they never hold up the message stream.
//
// Every request carries the sender's cluster ID and member ID; a member of
// another cluster, or one that was removed, is refused with a clear log line.
package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

const (
	headerClusterID = "X-Cairn-Cluster-Id"
	headerFrom      = "X-Cairn-From"
	headerTo        = "X-Cairn-To"
	headerSnapMsg   = "X-Cairn-Snapshot-Message"

	pathRaft     = "/cairn/raft"
	pathSnapshot = "/cairn/snapshot"

	queueSize = 4096
	// maxFrame bounds one message on the wire (raft's MaxSizePerMsg is 1 MiB
	// of entries; a message holds at most that plus its header).
	maxFrame = 512 << 20
)

// Raft is the local member's side, implemented by the server.
type Raft interface {
	// Step delivers a message from a peer.
	Step(ctx context.Context, m raftpb.Message) error
	// ReportUnreachable tells raft a message to id could not be delivered.
	ReportUnreachable(id uint64)
	// ReportSnapshot tells raft how sending a snapshot to id ended.
	ReportSnapshot(id uint64, ok bool)
	// IsRemoved reports whether id was removed from the cluster.
	IsRemoved(id uint64) bool
}

// Snapshotter streams and installs state snapshots, implemented by the server.
type Snapshotter interface {
	// WriteSnapshot writes the current state to w.
	WriteSnapshot(ctx context.Context, w io.Writer) error
	// InstallSnapshot replaces the local state with the one read from r; m is
	// the raft snapshot message it comes with.
	InstallSnapshot(ctx context.Context, r io.Reader, m raftpb.Message) error
}

// Config configures a Transport.
type Config struct {
	ID, ClusterID uint64
	Raft          Raft
	Snapshotter   Snapshotter
	Logger        *zap.Logger
	// TLS, when non-nil, is used to dial peers over https.
	TLS *tls.Config
	// DialTimeout bounds connecting to a peer; 0 means 1 s.
	DialTimeout time.Duration
	// OnRemoved is called once when a peer answers that this member was
	// removed from the cluster.
	OnRemoved func()
}

// Transport sends to and receives from the cluster's other members.
type Transport struct {
	cfg    Config
	lg     *zap.Logger
	client *http.Client
	mu     struct {
		sync.Mutex
		peers   map[uint64]*peer
		stopped bool
	}
	removedOnce sync.Once
	stats       Stats
	wg          sync.WaitGroup
	ctx         context.Context
	cancel      context.CancelFunc
}

// New creates a Transport with no peers.
func New(cfg Config) *Transport {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Transport{cfg: cfg, lg: cfg.Logger, ctx: ctx, cancel: cancel}
	t.mu.peers = make(map[uint64]*peer)
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	t.client = &http.Client{Transport: &http.Transport{
		DialContext:           dialer.DialContext,
		TLSClientConfig:       cfg.TLS,
		TLSHandshakeTimeout:   cfg.DialTimeout * 5,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: 0,
		DisableCompression:    true,
	}}
	return t
}

// AddPeer starts sending to member id at urls. Adding a known peer updates
// its URLs.
func (t *Transport) AddPeer(id uint64, urls []string) {
	if id == t.cfg.ID || len(urls) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return
	}
	if p, ok := t.mu.peers[id]; ok {
		p.setURLs(urls)
		return
	}
	p := newPeer(t, id, urls)
	t.mu.peers[id] = p
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		p.run()
	}()
}

// RemovePeer stops sending to member id.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	p, ok := t.mu.peers[id]
	delete(t.mu.peers, id)
	t.mu.Unlock()
	if ok {
		p.stop()
	}
}

// Send queues messages for their peers. It never blocks.
func (t *Transport) Send(msgs []raftpb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range msgs {
		m := msgs[i]
		if m.To == 0 || m.To == t.cfg.ID {
			continue
		}
		p, ok := t.mu.peers[m.To]
		if !ok {
			continue
		}
		if m.Type == raftpb.MsgSnap {
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				t.sendSnapshot(p, m)
			}()
			continue
		}
		p.enqueue(m)
	}
}

// ActiveSince returns when the stream to peer id was last established, or
// the zero time if it is not connected now.
func (t *Transport) ActiveSince(id uint64) time.Time {
	t.mu.Lock()
	p, ok := t.mu.peers[id]
	t.mu.Unlock()
	if !ok {
		return time.Time{}
	}
	return p.activeSince()
}

// Stats returns counters for metrics.
func (t *Transport) Stats() *Stats { return &t.stats }

// Stop stops every sender and waits for them.
func (t *Transport) Stop() {
	t.mu.Lock()
	t.mu.stopped = true
	peers := t.mu.peers
	t.mu.peers = map[uint64]*peer{}
	t.mu.Unlock()
	t.cancel()
	for _, p := range peers {
		p.stop()
	}
	t.wg.Wait()
	t.client.CloseIdleConnections()
}

func (t *Transport) newRequest(ctx context.Context, url, path string, to uint64, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(headerClusterID, strconv.FormatUint(t.cfg.ClusterID, 16))
	req.Header.Set(headerFrom, strconv.FormatUint(t.cfg.ID, 16))
	req.Header.Set(headerTo, strconv.FormatUint(to, 16))
	req.Header.Set("Content-Type", "application/octet-stream")
	return req, nil
}

// checkResponse turns a refusal from a peer into an error, and notices when
// the peer says this member was removed.
func (t *Transport) checkResponse(resp *http.Response, to uint64) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode == http.StatusGone {
		t.removedOnce.Do(func() {
			t.lg.Error("this member was removed from the cluster; it must not run any more",
				zap.String("refused-by", fmt.Sprintf("%x", to)))
			if t.cfg.OnRemoved != nil {
				go t.cfg.OnRemoved()
			}
		})
	}
	return fmt.Errorf("transport: peer %x refused: %s: %s", to, resp.Status, msg)
}

// writeFrame writes one length-prefixed message.
func writeFrame(w *bufio.Writer, m *raftpb.Message, buf []byte) ([]byte, error) {
	n := m.Size()
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := m.MarshalTo(buf); err != nil {
		return buf, err
	}
	var hdr [binary.MaxVarintLen64]byte
	hn := binary.PutUvarint(hdr[:], uint64(n))
	if _, err := w.Write(hdr[:hn]); err != nil {
		return buf, err
	}
	_, err := w.Write(buf)
	return buf, err
}

var errFrameTooLarge = errors.New("transport: message frame too large")

func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return buf, err
	}
	if n > maxFrame {
		return buf, errFrameTooLarge
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err = io.ReadFull(r, buf)
	return buf, err
}
