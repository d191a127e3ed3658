package framework

import (
	"net"
	"sync"
)

var ports struct {
	mu   sync.Mutex
	used map[int]bool // every port handed out by this process
}

// FreePort returns a loopback TCP port that was free a moment ago and that
// this process has not handed out before. Another process may still take
// it before the server binds; Cluster retries on "address already in use".
func FreePort() (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = make(map[int]bool)
	}
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !ports.used[p] {
			ports.used[p] = true
			return p, nil
		}
	}
}
