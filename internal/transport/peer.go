package transport

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// peer owns the outgoing stream to one remote member.
type peer struct {
	t     *Transport
	id    uint64
	queue chan raftpb.Message
	stopc chan struct{}
	donec chan struct{}
	once  sync.Once

	mu struct {
		sync.Mutex
		urls   []string
		next   int
		active time.Time
	}
	failing atomic.Bool
	// ctx is canceled by stop, so a request to a peer that never answers
	// (a paused process) does not hold up RemovePeer.
	ctx    context.Context
	cancel context.CancelFunc
}

func newPeer(t *Transport, id uint64, urls []string) *peer {
	p := &peer{
		t:     t,
		id:    id,
		queue: make(chan raftpb.Message, queueSize),
		stopc: make(chan struct{}),
		donec: make(chan struct{}),
	}
	p.mu.urls = append([]string(nil), urls...)
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	return p
}

func (p *peer) setURLs(urls []string) {
	p.mu.Lock()
	p.mu.urls = append([]string(nil), urls...)
	p.mu.next = 0
	p.mu.Unlock()
}

func (p *peer) url() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.mu.urls[p.mu.next%len(p.mu.urls)]
	return u
}

func (p *peer) rotateURL() {
	p.mu.Lock()
	p.mu.next++
	p.mu.Unlock()
}

func (p *peer) activeSince() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.active
}

func (p *peer) setActive(on bool) {
	p.mu.Lock()
	if on {
		p.mu.active = time.Now()
	} else {
		p.mu.active = time.Time{}
	}
	p.mu.Unlock()
}

// enqueue never blocks: with the queue full the message is dropped and raft
// is told the peer is unreachable, so it slows down and retransmits.
func (p *peer) enqueue(m raftpb.Message) {
	select {
	case p.queue <- m:
	default:
		p.t.stats.dropped.Add(1)
		p.t.cfg.Raft.ReportUnreachable(p.id)
	}
}

func (p *peer) stop() {
	p.once.Do(func() {
		close(p.stopc)
		p.cancel()
	})
	<-p.donec
}

// run keeps a stream open and writes queued messages to it, reconnecting
// with backoff after a failure.
func (p *peer) run() {
	defer close(p.donec)
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-p.stopc:
			return
		default:
		}
		start := time.Now()
		err := p.stream()
		p.setActive(false)
		select {
		case <-p.stopc:
			return
		default:
		}
		if err != nil {
			if !p.failing.Swap(true) {
				p.t.lg.Warn("lost the stream to peer", zap.String("peer", fmt.Sprintf("%x", p.id)), zap.Error(err))
			}
			p.t.stats.sendFailures.Add(1)
			p.t.cfg.Raft.ReportUnreachable(p.id)
			p.rotateURL()
		}
		if time.Since(start) > 5*time.Second {
			backoff = 50 * time.Millisecond
		}
		// Drop what queued up meanwhile: raft retransmits, and stale
		// heartbeats only add noise.
		p.drain()
		select {
		case <-p.stopc:
			return
		case <-time.After(backoff):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

func (p *peer) drain() {
	for {
		select {
		case <-p.queue:
		default:
			return
		}
	}
}

// stream runs one streaming POST until it fails or the peer is stopped.
func (p *peer) stream() error {
	// Wait for the first message before dialing: an idle peer costs nothing.
	var first raftpb.Message
	select {
	case first = <-p.queue:
	case <-p.stopc:
		return nil
	}
	pr, pw := io.Pipe()
	req, err := p.t.newRequest(p.ctx, p.url(), pathRaft, p.id, pr)
	if err != nil {
		return err
	}
	respc := make(chan error, 1)
	go func() {
		resp, err := p.t.client.Do(req)
		if err == nil {
			err = p.t.checkResponse(resp, p.id)
			if err == nil {
				// The peer only answers when the stream ends.
				_, _ = io.Copy(io.Discard, resp.Body)
				err = fmt.Errorf("transport: peer %x closed the stream", p.id)
			}
			resp.Body.Close()
		}
		pw.CloseWithError(err)
		respc <- err
	}()
	defer func() {
		pw.Close()
		pr.Close()
	}()
	w := bufio.NewWriterSize(pw, 64<<10)
	var buf []byte
	if buf, err = writeFrame(w, &first, buf); err != nil {
		return p.waitResp(respc, err)
	}
	if err = w.Flush(); err != nil {
		return p.waitResp(respc, err)
	}
	if p.failing.Swap(false) {
		p.t.lg.Info("stream to peer established", zap.String("peer", fmt.Sprintf("%x", p.id)))
	}
	p.setActive(true)
	for {
		select {
		case m := <-p.queue:
			if buf, err = writeFrame(w, &m, buf); err != nil {
				return p.waitResp(respc, err)
			}
			// Write everything already queued before flushing once.
			for more := true; more; {
				select {
				case m := <-p.queue:
					if buf, err = writeFrame(w, &m, buf); err != nil {
						return p.waitResp(respc, err)
					}
				default:
					more = false
				}
			}
			if err = w.Flush(); err != nil {
				return p.waitResp(respc, err)
			}
			p.t.stats.sentMsgs.Add(1)
		case err := <-respc:
			return err
		case <-p.stopc:
			pw.CloseWithError(io.EOF)
			<-respc
			return nil
		}
	}
}

func (p *peer) waitResp(respc chan error, werr error) error {
	select {
	case err := <-respc:
		if err != nil {
			return err
		}
	case <-time.After(time.Second):
	}
	return werr
}
