package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/cairndb/cairn/internal/ctl"
)

// conn is a client and the context its commands run under. When no
// connection is up after --dial-timeout and probing the endpoints finds why
// (connection refused, a TLS mismatch, an untrusted certificate...), the
// context is cancelled with a *connectError saying which endpoints failed
// and why: a command against a dead cluster fails after the dial timeout
// with one clear line, instead of "context deadline exceeded" after the
// command timeout.
type conn struct {
	*clientv3.Client
	ctx    context.Context
	cancel context.CancelCauseFunc
	eps    []string
	tls    *tls.Config
	done   chan struct{}
}

// connectError says why no endpoint could be reached.
type connectError struct {
	reasons []string // "<endpoint>: <why>"
}

func (e *connectError) Error() string {
	if len(e.reasons) == 1 {
		return "cannot connect to " + e.reasons[0]
	}
	return "cannot connect to any endpoint: " + strings.Join(e.reasons, "; ")
}

// dial opens a client for eps and registers it to be closed with the app.
func (a *app) dial(eps []string, acc access) (*conn, error) {
	cfg := a.clientv3Config(eps, acc)
	ctx, cancel := context.WithCancelCause(context.Background())
	cfg.Context = ctx
	cli, err := clientv3.New(*cfg)
	if err != nil {
		cancel(err)
		if cerr := a.diagnose(eps, cfg.TLS); cerr != nil && !isServerError(err) {
			return nil, ctl.Exit(ctl.ExitBadConnection, cerr)
		}
		return nil, ctl.Exit(ctl.ExitBadConnection, err)
	}
	c := &conn{Client: cli, ctx: ctx, cancel: cancel, eps: eps, tls: cfg.TLS, done: make(chan struct{})}
	if a.g.DialTimeout > 0 {
		go c.watchdog(a, a.g.DialTimeout)
	} else {
		close(c.done)
	}
	a.mu.Lock()
	a.conns = append(a.conns, c)
	a.mu.Unlock()
	return c, nil
}

// Close closes the client and stops the watchdog.
func (c *conn) Close() error {
	c.cancel(context.Canceled)
	<-c.done
	return c.Client.Close()
}

// watchdog waits up to d for the connection to be ready. If it is not, it
// finds out why and cancels the conn's context with that reason.
func (c *conn) watchdog(a *app, d time.Duration) {
	defer close(c.done)
	cc := c.ActiveConnection()
	ctx, cancel := context.WithTimeout(c.ctx, d)
	defer cancel()
	cc.Connect()
	for {
		s := cc.GetState()
		if s == connectivity.Ready {
			return
		}
		if !cc.WaitForStateChange(ctx, s) {
			if c.ctx.Err() != nil {
				return // closed
			}
			if cc.GetState() == connectivity.Ready {
				return
			}
			// Give up early only for a clear reason (refused, TLS...): a
			// server that answers but is slow gets the command timeout, as
			// with etcdctl.
			if cerr := a.diagnose(c.eps, c.tls); cerr != nil {
				c.cancel(cerr)
			}
			return
		}
	}
}

// connectError returns the connection failure behind err, if the command
// failed because its client never connected (commands pass their errors
// through conn.explain).
func (a *app) connectError(err error) error {
	var ce *connectError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

// explain replaces err by the conn's connection failure, if there was one.
func (c *conn) explain(err error) error {
	if err == nil || isServerError(err) {
		return err
	}
	var ce *connectError
	if errors.As(context.Cause(c.ctx), &ce) {
		return ce
	}
	return err
}

// isServerError reports an error the server answered with (as opposed to
// a failure to reach it).
func isServerError(err error) bool {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return true
	}
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown:
		return strings.HasPrefix(st.Message(), "etcdserver:")
	}
	return true
}

// diagnose dials every endpoint directly (TCP, then TLS if the client uses
// it) and describes the failures; nil if every endpoint answers.
func (a *app) diagnose(eps []string, tlsCfg *tls.Config) *connectError {
	res := make([]string, len(eps))
	var wg sync.WaitGroup
	for i, ep := range eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = probe(ep, tlsCfg, true)
		}()
	}
	wg.Wait()
	var out connectError
	for i, why := range res {
		if why != "" {
			out.reasons = append(out.reasons, eps[i]+": "+why)
		}
	}
	if len(out.reasons) == 0 {
		return nil
	}
	return &out
}

// probe checks one endpoint and says what is wrong with it ("" if nothing
// is). Without deep, only a TCP (or unix socket) connection is tried.
func probe(ep string, tlsCfg *tls.Config, deep bool) string {
	network, addr, secure, host := ctl.SplitEndpoint(ep, tlsCfg != nil)
	d := net.Dialer{Timeout: time.Second}
	nc, err := d.Dial(network, addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			return fmt.Sprintf("%s %s: %v", oe.Op, addr, oe.Err)
		}
		return err.Error()
	}
	defer nc.Close()
	if !deep {
		return ""
	}
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	if !secure {
		// Does the server want TLS? A TLS server answers a TLS hello.
		tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err == nil {
			return "the server speaks TLS: use an https:// endpoint and --cacert (or --insecure-transport=false)"
		}
		return ""
	}
	cfg := &tls.Config{}
	if tlsCfg != nil {
		cfg = tlsCfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	err = tc.Handshake()
	if err == nil {
		// With TLS 1.3 a server that wants a client certificate refuses
		// it only after the handshake: wait briefly for its alert.
		tc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var b [1]byte
		if _, rerr := tc.Read(b[:]); rerr != nil {
			var ne net.Error
			if !errors.As(rerr, &ne) || !ne.Timeout() {
				err = rerr
			}
		}
	}
	if err != nil {
		var ue x509.UnknownAuthorityError
		var he x509.HostnameError
		switch {
		case errors.As(err, &ue):
			return "TLS: the server's certificate is not signed by a trusted CA (give it with --cacert): " + err.Error()
		case errors.As(err, &he):
			return "TLS: " + err.Error()
		case strings.Contains(err.Error(), "first record does not look like a TLS handshake"):
			return "the server does not speak TLS: use an http:// endpoint"
		case strings.Contains(err.Error(), "certificate required") || strings.Contains(err.Error(), "bad certificate"):
			return "TLS: the server requires a client certificate (give it with --cert and --key): " + err.Error()
		}
		return "TLS: " + err.Error()
	}
	return ""
}

// tlsConfig is the client TLS of --cert, --key, --cacert and
// --insecure-skip-tls-verify; nil for plain connections.
func (a *app) tlsConfig() (*tls.Config, error) {
	g := &a.g
	for _, f := range []struct{ name, val string }{{"cert", g.Cert}, {"key", g.Key}, {"cacert", g.CACert}} {
		if f.val == "" && a.flagChanged(f.name) {
			return nil, fmt.Errorf("empty string is passed to --%s option", f.name)
		}
	}
	var cfg *tls.Config
	if g.Cert != "" || g.Key != "" || g.CACert != "" || (g.DiscoverySrv != "" && !g.InsecureDiscovery) {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		if g.Cert != "" || g.Key != "" {
			if g.Cert == "" || g.Key == "" {
				return nil, fmt.Errorf("KeyFile and CertFile must both be present[key: %v, cert: %v]", g.Key, g.Cert)
			}
			pair, err := tls.LoadX509KeyPair(g.Cert, g.Key)
			if err != nil {
				return nil, err
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		if g.CACert != "" {
			pem, err := os.ReadFile(g.CACert)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("failed to load CA certificates from %s", g.CACert)
			}
			cfg.RootCAs = pool
		}
		if g.DiscoverySrv != "" && !g.InsecureDiscovery {
			cfg.ServerName = g.DiscoverySrv
		}
	}
	if cfg == nil && !g.InsecureTransport {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if g.InsecureSkipVerify && cfg != nil {
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}

// flagChanged reports a global flag given on the command line or by its
// ETCDCTL_* variable.
func (a *app) flagChanged(name string) bool {
	if a.flags == nil {
		return false
	}
	f := a.flags.Lookup(name)
	return f != nil && f.Changed
}

// endpoints are --endpoints, or the endpoints DNS discovery finds under
// --discovery-srv.
func (a *app) endpoints() ([]string, error) {
	if a.g.DiscoverySrv == "" {
		return a.g.Endpoints, nil
	}
	eps, err := discoverEndpoints(a.g.DiscoverySrv, a.g.DiscoverySrvName)
	if err != nil {
		return nil, ctl.Exit(ctl.ExitError, err)
	}
	if !a.g.InsecureDiscovery {
		var secure []string
		for _, ep := range eps {
			if strings.HasPrefix(ep, "http://") {
				fmt.Fprintf(a.errOut, "ignoring discovered insecure endpoint %q\n", ep)
				continue
			}
			secure = append(secure, ep)
		}
		eps = secure
	}
	if len(eps) == 0 {
		return a.g.Endpoints, nil
	}
	return eps, nil
}

// discoverEndpoints looks up _etcd-client-ssl._tcp and _etcd-client._tcp
// SRV records of domain (with -<name> appended to the service when name is
// set), as etcdctl does.
func discoverEndpoints(domain, name string) ([]string, error) {
	var eps []string
	var errs []string
	for _, s := range []struct{ service, scheme string }{{"etcd-client-ssl", "https"}, {"etcd-client", "http"}} {
		service := s.service
		if name != "" {
			service += "-" + name
		}
		_, addrs, err := net.LookupSRV(service, "tcp", domain)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for _, srv := range addrs {
			host := strings.TrimSuffix(srv.Target, ".")
			eps = append(eps, (&url.URL{Scheme: s.scheme, Host: net.JoinHostPort(host, fmt.Sprint(srv.Port))}).String())
		}
	}
	if len(errs) == 2 {
		return nil, fmt.Errorf("dns lookup errors: %s and %s", errs[0], errs[1])
	}
	return eps, nil
}
