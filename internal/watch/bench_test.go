package watch

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// BenchmarkFanOut measures the hub alone (no gRPC): one put fanned out to
// 1,000 watchers of one key over 8 streams, whose consumers pop as a send
// loop would. ns/op is per event delivered.
func BenchmarkFanOut(b *testing.B) {
	const watchers, streams = 1000, 8
	m := newMemStore()
	h := New(Config{Store: m, Rev: 1, Header: func(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev} }})
	defer h.Stop()
	var delivered atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var ss []*Stream
	for i := 0; i < streams; i++ {
		s := h.NewStream()
		ss = append(ss, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []Response
			for {
				select {
				case <-s.Ready():
				case <-stop:
					return
				}
				for {
					buf = s.Pop(buf[:0], 256<<10)
					if len(buf) == 0 {
						break
					}
					n := 0
					for _, r := range buf {
						n += len(r.Events)
						_ = r.Size()
					}
					delivered.Add(int64(n))
				}
			}
		}()
	}
	for i := 0; i < watchers; i++ {
		s := ss[i%streams]
		if err := s.Request(context.Background(), &pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{Key: []byte("k")}}}); err != nil {
			b.Fatal(err)
		}
	}
	var n int
	h.do(func() { n = h.synced.n })
	for n < watchers {
		h.do(func() { n = h.synced.n })
	}
	val := make([]byte, 256)
	b.ResetTimer()
	puts := b.N/watchers + 1
	rev := int64(1)
	for i := 0; i < puts; i++ {
		rev++
		kv := &mvccpb.KeyValue{Key: []byte("k"), Value: val, CreateRevision: 2, ModRevision: rev, Version: rev - 1}
		h.Notify([]mvccpb.Event{{Type: mvccpb.PUT, Kv: kv}}, rev)
		// Keep the store in step for catch-up reads.
		m.mu.Lock()
		m.rev = rev
		m.hist = append(m.hist, mvccpb.Event{Type: mvccpb.PUT, Kv: kv})
		m.mu.Unlock()
	}
	for delivered.Load() < int64(puts*watchers) {
		h.do(func() {})
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(puts*watchers), "ns/event")
}
