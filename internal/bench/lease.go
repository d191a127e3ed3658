package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// lease-keepalive: each client owns one lease (granted untimed in Prepare,
// TTL leaseTTL seconds) and renews it with KeepAliveOnce in a closed loop,
// as etcd's benchmark lease-keepalive does. KeepAliveOnce opens a
// keep-alive stream, sends one request and waits for its answer.

// leaseTTL is the TTL of the workload's leases, in seconds: long enough
// that none expires while Prepare grants the others.
const leaseTTL = 60

// grantConcurrency bounds the concurrent grants of Prepare.
const grantConcurrency = 64

type leaseWorkload struct {
	ids []clientv3.LeaseID // client i's lease
}

func (*leaseWorkload) Name() string { return "lease-keepalive" }

func (w *leaseWorkload) Prepare(ctx context.Context, env *Env) error {
	n := env.Config.Clients
	w.ids = make([]clientv3.LeaseID, n)
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(n, grantConcurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, env.Config.RequestTimeout)
				resp, err := env.Conn(i).Grant(rctx, leaseTTL)
				cancel()
				if err != nil {
					next.Store(int64(n)) // stop the others
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("grant lease of client %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				w.ids[i] = resp.ID
			}
		})
	}
	wg.Wait()
	return first
}

func (w *leaseWorkload) NewWorker(i int, env *Env, _ *Meter) Worker {
	return &leaseWorker{lease: env.Conn(i), id: w.ids[i]}
}

type leaseWorker struct {
	lease clientv3.Lease
	id    clientv3.LeaseID
}

func (w *leaseWorker) Do(ctx context.Context, _ int64) error {
	_, err := w.lease.KeepAliveOnce(ctx, w.id)
	return err
}
