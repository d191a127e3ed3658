package framework

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Proxy stands in front of one member's peer port: the cluster knows the
// member by the proxy's URL (--initial-advertise-peer-urls), the member
// listens on its own port, and every peer connection to it passes through
// the proxy. That lets a test cut the traffic from chosen senders and heal
// it again, so partitions are real TCP failures between real processes.
//
// A member's peer URL is part of its ID, and every member must agree on it,
// so one proxy serves all senders to a member rather than one proxy per
// directed link. The proxy tells senders apart by the member ID in the first
// request head of each connection (Cairn's X-Cairn-From, etcd's
// X-Server-From); all later requests on a connection come from the same
// process. Blocking sender S at member R's proxy therefore cuts the directed
// link S→R for Cairn, whose every connection carries the sender's own
// messages. etcd's rafthttp also pulls messages over GET streams its
// receiver opens, so against etcd only symmetric cuts are meaningful.
//
// A cut link behaves like a partition, not like a refused port: the
// connections it carried are closed once, and new connections from the
// sender are accepted and black-holed (read and discarded, never
// forwarded), so the sender sees its messages vanish. Healing closes the
// black-holed connections, and the sender reconnects through the proxy.
// Connections without a sender header (a joiner's GET /cairn/members, a
// forwarded promotion) are cut only by BlockUnknown.
type Proxy struct {
	URL    string // http://127.0.0.1:port: the member's advertised peer URL
	Target string // host:port the member listens on

	ln net.Listener
	wg sync.WaitGroup // the accept loop and one goroutine per connection

	mu struct {
		sync.Mutex
		blocked      map[uint64]bool // senders whose traffic is cut
		blockUnknown bool
		conns        map[*proxyConn]struct{}
		closed       bool
	}
}

// proxyConn is one accepted connection and, unless black-holed, its
// upstream connection to the member.
type proxyConn struct {
	from      uint64 // sender member ID; 0 when the request named none
	down, up  net.Conn
	blackhole bool
}

func (c *proxyConn) close() {
	c.down.Close()
	if c.up != nil {
		c.up.Close()
	}
}

// maxHead bounds the request head the proxy reads to find the sender.
const maxHead = 64 << 10

// StartProxy listens on a free loopback port and forwards to target
// (host:port). Close stops it.
func StartProxy(target string) (*Proxy, error) {
	var ln net.Listener
	var err error
	for attempt := 0; attempt < startAttempts; attempt++ {
		var port int
		if port, err = FreePort(); err != nil {
			return nil, err
		}
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("framework: proxy listen: %w", err)
	}
	p := &Proxy{
		URL:    "http://" + ln.Addr().String(),
		Target: target,
		ln:     ln,
	}
	p.mu.blocked = make(map[uint64]bool)
	p.mu.conns = make(map[*proxyConn]struct{})
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c)
		}()
	}
}

// serve reads the first request head, then forwards or black-holes the
// connection until either side closes it or a cut or heal closes it.
func (p *Proxy) serve(down net.Conn) {
	head, err := readHead(down)
	if err != nil {
		down.Close()
		return
	}
	pc := &proxyConn{from: senderID(head), down: down}
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		down.Close()
		return
	}
	pc.blackhole = p.blockedLocked(pc.from)
	p.mu.conns[pc] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.mu.conns, pc)
		p.mu.Unlock()
		pc.close()
	}()

	if pc.blackhole {
		_, _ = io.Copy(io.Discard, down)
		return
	}
	up, err := net.DialTimeout("tcp", p.Target, 2*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	// A cut may have come while dialing: it closed down already, or it
	// marked this sender blocked after the check above.
	if p.mu.closed || p.blockedLocked(pc.from) {
		p.mu.Unlock()
		up.Close()
		return
	}
	pc.up = up
	p.mu.Unlock()
	if _, err := up.Write(head); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(up, down)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(down, up)
		done <- struct{}{}
	}()
	<-done
	pc.close()
	<-done
}

func (p *Proxy) blockedLocked(from uint64) bool {
	if from == 0 {
		return p.mu.blockUnknown
	}
	return p.mu.blocked[from]
}

// readHead reads until the blank line that ends the first HTTP request
// head. It returns everything it read, which may include the start of the
// body; the caller forwards all of it before the rest of the stream.
func readHead(c net.Conn) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	for {
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if bytes.Contains(buf, []byte("\r\n\r\n")) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) > maxHead {
			return nil, errors.New("framework: proxy: request head too large")
		}
	}
}

// senderID finds the sending member's ID in a request head.
func senderID(head []byte) uint64 {
	end := bytes.Index(head, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head[:end]), "\r\n")[1:] {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "x-cairn-from", "x-server-from":
			id, err := strconv.ParseUint(strings.TrimSpace(value), 16, 64)
			if err == nil {
				return id
			}
		}
	}
	return 0
}

// Block cuts the traffic from member from: its open connections close, and
// its new ones are black-holed until Unblock.
func (p *Proxy) Block(from uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.blocked[from] = true
	p.closeLocked(func(c *proxyConn) bool { return c.from == from && !c.blackhole })
}

// Unblock heals the traffic from member from: its black-holed connections
// close, so it reconnects.
func (p *Proxy) Unblock(from uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.mu.blocked, from)
	p.closeLocked(func(c *proxyConn) bool { return c.from == from && c.blackhole })
}

// BlockUnknown cuts (on=true) or heals connections that name no sender.
func (p *Proxy) BlockUnknown(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.blockUnknown = on
	p.closeLocked(func(c *proxyConn) bool { return c.from == 0 && c.blackhole != on })
}

// UnblockAll heals every link into the member.
func (p *Proxy) UnblockAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.mu.blocked)
	p.mu.blockUnknown = false
	p.closeLocked(func(c *proxyConn) bool { return c.blackhole })
}

// Blocked lists the senders whose traffic is cut.
func (p *Proxy) Blocked() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []uint64
	for id := range p.mu.blocked {
		ids = append(ids, id)
	}
	return ids
}

func (p *Proxy) closeLocked(match func(*proxyConn) bool) {
	for c := range p.mu.conns {
		if match(c) {
			c.close()
		}
	}
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return
	}
	p.mu.closed = true
	p.ln.Close()
	p.closeLocked(func(*proxyConn) bool { return true })
	p.mu.Unlock()
	p.wg.Wait()
}
