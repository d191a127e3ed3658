package bench

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// FirstReadResult is what FirstRead saw.
type FirstReadResult struct {
	// At is when the first successful read returned.
	At time.Time
	// Attempts is the number of reads tried, the successful one included.
	Attempts int
	// Found tells whether the key read exists.
	Found bool
}

// FirstRead polls a linearizable Get of key until one succeeds, and reports
// when. It is meant to time a restart: started next to a starting server,
// it tells when the server first serves a linearizable read. While the
// server refuses connections the client tries to connect again every
// interval (gRPC's default reconnect backoff waits a second and more), and
// a Get waits for the connection (clientv3 sends with wait-for-ready), so
// it goes out as soon as one is up; a Get the server refuses (not ready, no
// leader) is tried again after interval. Each Get gives up after a second.
// The answer is late by about one interval at most.
func FirstRead(ctx context.Context, endpoints []string, key string, interval time.Duration) (FirstReadResult, error) {
	if interval <= 0 {
		return FirstReadResult{}, fmt.Errorf("%w: interval must be positive, got %s", ErrInvalidConfig, interval)
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:          endpoints,
		DialTimeout:        time.Second,
		Logger:             zap.NewNop(),
		MaxUnaryRetries:    1,
		BackoffWaitBetween: interval,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: interval, Multiplier: 1, MaxDelay: interval},
			MinConnectTimeout: time.Second,
		})},
	})
	if err != nil {
		return FirstReadResult{}, fmt.Errorf("bench: client for %v: %w", endpoints, err)
	}
	defer c.Close()
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 1; ; n++ {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := c.Get(rctx, key)
		cancel()
		if err == nil {
			return FirstReadResult{At: time.Now(), Attempts: n, Found: resp.Count > 0}, nil
		}
		select {
		case <-ctx.Done():
			return FirstReadResult{Attempts: n}, fmt.Errorf("bench: no linearizable read from %v after %d attempts: %w (last error: %v)",
				endpoints, n, ctx.Err(), err)
		case <-t.C:
		}
	}
}
