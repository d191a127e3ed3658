package ctl

import (
	"net"
	"net/url"
	"strings"
)

// SplitEndpoint reads an endpoint as clientv3 does: scheme://host:port
// (http or https), host:port (TLS when the client has a TLS
// configuration, defaultTLS), or unix:path / unixs:path. It returns the
// network and address to dial, whether TLS is used, and the host name a
// server certificate must carry.
func SplitEndpoint(ep string, defaultTLS bool) (network, addr string, secure bool, host string) {
	for _, s := range []string{"unixs://", "unix://", "unixs:", "unix:"} {
		if p, ok := strings.CutPrefix(ep, s); ok {
			return "unix", p, strings.HasPrefix(s, "unixs"), "localhost"
		}
	}
	secure = defaultTLS
	if strings.Contains(ep, "://") {
		if u, err := url.Parse(ep); err == nil {
			secure = u.Scheme == "https"
			ep = u.Host
		}
	}
	host, _, err := net.SplitHostPort(ep)
	if err != nil {
		host = ep
	}
	return "tcp", ep, secure, host
}
