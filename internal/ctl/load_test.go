package ctl

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

func TestLatencies(t *testing.T) {
	var l Latencies
	t0 := time.Unix(100, 0)
	// Four requests of 1, 2, 3 and 4 ms over 2 seconds.
	for i := 1; i <= 4; i++ {
		start := t0.Add(time.Duration(i-1) * 500 * time.Millisecond)
		l.Add(start, start.Add(time.Duration(i)*time.Millisecond), nil)
	}
	l.Add(t0, t0, errors.New("boom"))
	l.Add(t0, t0, errors.New("boom"))
	rps, slowest, stddev := l.Stats()
	if math.Abs(rps-4/1.504) > 1e-9 || slowest != 0.004 || math.Abs(stddev-math.Sqrt(1.25e-6)) > 1e-12 {
		t.Errorf("Stats() = %v, %v, %v", rps, slowest, stddev)
	}
	if e := l.Errors(); len(e) != 1 || e[0] != (ErrorCount{"boom", 2}) {
		t.Errorf("Errors() = %v", e)
	}
	var empty Latencies
	if r, s, d := empty.Stats(); r != 0 || s != 0 || d != 0 {
		t.Errorf("empty Stats() = %v, %v, %v", r, s, d)
	}
}

func TestPacerRate(t *testing.T) {
	p := NewPacer(200)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var (
		mu sync.Mutex
		n  int
		wg sync.WaitGroup
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p.Wait(ctx) {
				mu.Lock()
				n++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// 200/s for 0.3s is 60 slots; allow for a slow machine.
	if n < 20 || n > 75 {
		t.Errorf("%d requests in 300ms at 200/s", n)
	}
}
