package ctl

import "testing"

func TestSplitEndpoint(t *testing.T) {
	for _, c := range []struct {
		ep         string
		defaultTLS bool
		network    string
		addr       string
		secure     bool
		host       string
	}{
		{"127.0.0.1:2379", false, "tcp", "127.0.0.1:2379", false, "127.0.0.1"},
		{"127.0.0.1:2379", true, "tcp", "127.0.0.1:2379", true, "127.0.0.1"},
		{"http://etcd1:2379", true, "tcp", "etcd1:2379", false, "etcd1"},
		{"https://10.0.1.10:2379", false, "tcp", "10.0.1.10:2379", true, "10.0.1.10"},
		{"https://[::1]:2379", false, "tcp", "[::1]:2379", true, "::1"},
		{"unix:///run/etcd.sock", false, "unix", "/run/etcd.sock", false, "localhost"},
		{"unixs:etcd.sock", false, "unix", "etcd.sock", true, "localhost"},
		{"localhost", false, "tcp", "localhost", false, "localhost"},
	} {
		n, a, s, h := SplitEndpoint(c.ep, c.defaultTLS)
		if n != c.network || a != c.addr || s != c.secure || h != c.host {
			t.Errorf("SplitEndpoint(%q, %v) = %q %q %v %q", c.ep, c.defaultTLS, n, a, s, h)
		}
	}
}
