package server

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// http2Preface starts every HTTP/2 (and so every gRPC) connection.
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// splitListener serves gRPC and HTTP/1 on one port, as etcd does: it peeks
// at each new connection and hands HTTP/2 connections to the gRPC listener
// and everything else to the HTTP listener.
type splitListener struct {
	inner     net.Listener
	grpc      *chanListener
	http      *chanListener
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func newSplitListener(l net.Listener) *splitListener {
	s := &splitListener{
		inner: l,
		grpc:  newChanListener(l.Addr()),
		http:  newChanListener(l.Addr()),
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

func (s *splitListener) acceptLoop() {
	defer s.wg.Done()
	var tempDelay time.Duration
	for {
		c, err := s.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if tempDelay == 0 {
					tempDelay = 5 * time.Millisecond
				} else if tempDelay *= 2; tempDelay > time.Second {
					tempDelay = time.Second
				}
				time.Sleep(tempDelay)
				continue
			}
			s.grpc.closeWith(err)
			s.http.closeWith(err)
			return
		}
		tempDelay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.route(c)
		}()
	}
}

// route reads just enough of the connection to tell HTTP/2 from HTTP/1.
func (s *splitListener) route(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, len(http2Preface))
	p, err := br.Peek(len(http2Preface))
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, r: br}
	if err == nil && bytes.Equal(p, http2Preface) {
		s.grpc.deliver(pc)
		return
	}
	if err != nil && len(p) == 0 {
		c.Close()
		return
	}
	s.http.deliver(pc)
}

// Close stops accepting and waits for the routing goroutines.
func (s *splitListener) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = s.inner.Close()
		s.wg.Wait()
		s.grpc.closeWith(net.ErrClosed)
		s.http.closeWith(net.ErrClosed)
	})
	return err
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// chanListener is a net.Listener fed by splitListener.
type chanListener struct {
	addr   net.Addr
	connc  chan net.Conn
	closed chan struct{}
	once   sync.Once
	err    error
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, connc: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.connc <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.connc:
		return c, nil
	case <-l.closed:
		return nil, l.err
	}
}

func (l *chanListener) closeWith(err error) {
	l.once.Do(func() {
		l.err = err
		close(l.closed)
	})
}

func (l *chanListener) Close() error { l.closeWith(net.ErrClosed); return nil }

func (l *chanListener) Addr() net.Addr { return l.addr }

func tlsListener(l net.Listener, cfg *tls.Config) net.Listener { return tls.NewListener(l, cfg) }
