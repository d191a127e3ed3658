package mvcc

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func BenchmarkPut(b *testing.B) {
	e := newEnv(b)
	val := make([]byte, 256)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := e.db.NewIndexedBatch()
		w := e.s.Write(batch)
		if _, err := w.Put(&pb.PutRequest{Key: []byte(fmt.Sprintf("key/%06d", i%10000)), Value: val}); err != nil {
			b.Fatal(err)
		}
		w.End()
		if err := batch.Commit(pebble.NoSync); err != nil {
			b.Fatal(err)
		}
		batch.Close()
		e.s.Committed()
	}
}

// benchData writes 1000 keys, each 10 times.
func benchData(b *testing.B) *testEnv {
	e := newEnv(b)
	val := make([]byte, 256)
	for round := 0; round < 10; round++ {
		batch := e.db.NewIndexedBatch()
		for i := 0; i < 1000; i++ {
			w := e.s.Write(batch)
			w.Put(&pb.PutRequest{Key: []byte(fmt.Sprintf("key/%06d", i)), Value: val})
			w.End()
		}
		batch.Commit(pebble.NoSync)
		batch.Close()
		e.s.Committed()
	}
	return e
}

func benchRange(b *testing.B, rev int64) {
	e := benchData(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.s.Read()
		resp, err := r.Range(&pb.RangeRequest{Key: []byte("key/"), RangeEnd: []byte("key0"), Limit: 100, Revision: rev})
		r.Close()
		if err != nil || len(resp.Kvs) != 100 {
			b.Fatal(err)
		}
	}
}

func BenchmarkRange100Current(b *testing.B) { benchRange(b, 0) }
func BenchmarkRange100Past(b *testing.B)    { benchRange(b, 5000) }

// BenchmarkRange100PastCompacted reads at a past revision after a
// compaction, the usual shape of history (few versions per key).
func BenchmarkRange100PastCompacted(b *testing.B) {
	e := benchData(b)
	if err := e.compact(9000, true); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := e.s.Read()
		resp, err := r.Range(&pb.RangeRequest{Key: []byte("key/"), RangeEnd: []byte("key0"), Limit: 100, Revision: 9500})
		r.Close()
		if err != nil || len(resp.Kvs) != 100 {
			b.Fatal(err)
		}
	}
}
