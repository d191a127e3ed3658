package e2e

import (
	"fmt"
	"sync"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Everything written before a graceful stop or a SIGKILL is there after the
// restart, with the same revisions, history and compaction point, and the
// revision goes on from where it was. --snapshot-count is small so that the
// restart also recovers from a snapshot plus the log after it.
func TestRestart(t *testing.T) {
	for _, mode := range []string{"SIGTERM", "SIGKILL"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "--snapshot-count=100")

			// 4 writers x 150 writes: puts, overwrites, deletes and txns.
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 150; i++ {
						k := fmt.Sprintf("w%d/k%03d", w, i%60)
						var err error
						switch {
						case i%10 == 9: // the key the previous write put
							_, err = e.cli.Delete(e.ctx, fmt.Sprintf("w%d/k%03d", w, (i-1)%60))
						case i%10 == 5:
							_, err = e.cli.Txn(e.ctx).Then(clientv3.OpPut(k, fmt.Sprint(i)), clientv3.OpPut(k+"/txn", fmt.Sprint(i))).Commit()
						default:
							_, err = e.cli.Put(e.ctx, k, fmt.Sprintf("value-%d-%d", w, i))
						}
						if err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if _, err := e.cli.Compact(e.ctx, 100); err != nil {
				t.Fatal(err)
			}

			before, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			if before.Header.Revision != 601 {
				t.Fatalf("revision %d after 600 writes, want 601", before.Header.Revision)
			}
			past, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix(), clientv3.WithRev(300))
			if err != nil {
				t.Fatal(err)
			}

			if mode == "SIGTERM" {
				e.m.Stop(t)
			} else {
				e.m.Kill(t)
			}
			e.m.Start(t)

			after, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			e.checkHeader(t, "get after restart", after.Header, 601)
			checkKVs(t, "all keys after restart", after.Kvs, before.Kvs)
			pastAfter, err := e.cli.Get(e.ctx, "", clientv3.WithPrefix(), clientv3.WithRev(300))
			if err != nil {
				t.Fatal(err)
			}
			checkKVs(t, "all keys at revision 300 after restart", pastAfter.Kvs, past.Kvs)
			_, err = e.cli.Get(e.ctx, "", clientv3.WithPrefix(), clientv3.WithRev(99))
			wantErr(t, err, rpctypes.ErrGRPCCompacted)
			_, err = e.cli.Compact(e.ctx, 100)
			wantErr(t, err, rpctypes.ErrGRPCCompacted)

			p, err := e.cli.Put(e.ctx, "after", "restart")
			if err != nil {
				t.Fatal(err)
			}
			e.checkHeader(t, "first put after restart", p.Header, 602)
		})
	}
}
