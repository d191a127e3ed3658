package mvcc

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestConcurrentReadersWriterCompactor runs readers against the apply
// goroutine and the compactor. Every view must be self-consistent: the
// counter key holds its view's revision minus one.
func TestConcurrentReadersWriterCompactor(t *testing.T) {
	e := newEnv(t)
	e.cfg.CompactionBatchLimit = 3
	e.reopen()
	e.put("n", "1") // rev 2: n = rev-1
	const writes = 300
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := checkView(e.s); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < writes; i++ {
		rev := e.s.Rev()
		_, err := e.apply(func(w *WriteTxn) error {
			_, err := w.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{
				opPut(&pb.PutRequest{Key: []byte("n"), Value: []byte(strconv.FormatInt(rev, 10))}),
				opPut(&pb.PutRequest{Key: []byte(fmt.Sprintf("k%d", i%17)), Value: []byte("x")}),
			}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if i%40 == 39 {
			if err := e.compact(e.s.Rev()-20, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func checkView(s *Store) error {
	r := s.Read()
	defer r.Close()
	resp, err := r.Range(&pb.RangeRequest{Key: []byte("n")})
	if err != nil {
		return err
	}
	if got, want := string(resp.Kvs[0].Value), strconv.FormatInt(r.Rev()-1, 10); got != want {
		return fmt.Errorf("view at %d: n=%s, want %s", r.Rev(), got, want)
	}
	// The oldest readable revision is still complete.
	old := max(r.CompactRev(), 2)
	resp, err = r.Range(&pb.RangeRequest{Key: []byte("n"), Revision: old})
	if err != nil {
		return err
	}
	if got, want := string(resp.Kvs[0].Value), strconv.FormatInt(old-1, 10); got != want {
		return fmt.Errorf("view at %d reading %d: n=%s, want %s", r.Rev(), old, got, want)
	}
	evs, _, err := r.Events(old, []byte("n"), nil, 0)
	if err != nil {
		return err
	}
	if int64(len(evs)) != r.Rev()-old+1 {
		return fmt.Errorf("view at %d: %d events of n from %d", r.Rev(), len(evs), old)
	}
	_, _, _, err = r.HashKV(0)
	return err
}
