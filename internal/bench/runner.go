package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Options are the run's side channels; the zero value prints nothing.
type Options struct {
	// Progress, if not nil, receives a progress line every second, each
	// starting with '\r' (meant for a terminal), and a line erase at the end.
	Progress io.Writer
	// Log, if not nil, receives notes about the untimed phases (preload).
	Log io.Writer
	// ServerPIDs, if not empty, are the process ids of the server (one per
	// member of a cluster on this machine) whose summed CPU time Result.CPU
	// reports.
	ServerPIDs []int
}

// Run dials the endpoints, prepares the workload and runs it. cfg must have
// passed Validate. Cancelling ctx stops the run; the result then covers the
// requests answered so far.
func Run(ctx context.Context, cfg Config, w Workload, opts Options) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	env := &Env{Config: &cfg, Keys: NewKeys(&cfg), Value: Value(cfg.ValSize), Values: NewValues(cfg.ValSize, cfg.RandomValues)}
	defer func() {
		for _, c := range env.Conns {
			c.Close()
		}
	}()
	for i := 0; i < cfg.Conns; i++ {
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   cfg.Endpoints,
			DialTimeout: cfg.DialTimeout,
			Logger:      zap.NewNop(),
		})
		if err != nil {
			return Result{}, fmt.Errorf("bench: connect to %v: %w", cfg.Endpoints, err)
		}
		env.Conns = append(env.Conns, c)
		// One request per connection so the timed run starts connected.
		wctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		_, err = c.Get(wctx, "cairn-bench-warmup", clientv3.WithSerializable())
		cancel()
		if err != nil {
			return Result{}, fmt.Errorf("bench: first request to %v: %w", cfg.Endpoints, err)
		}
	}
	return run(ctx, env, w, opts)
}

// run prepares and runs w over a ready environment.
func run(ctx context.Context, env *Env, w Workload, opts Options) (Result, error) {
	cfg := env.Config
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format, args...)
		}
	}
	t0 := time.Now()
	if err := w.Prepare(ctx, env); err != nil {
		return Result{}, fmt.Errorf("bench: prepare %s: %w", w.Name(), err)
	}
	if d := time.Since(t0); d > 100*time.Millisecond {
		logf("%s: prepared in %.1fs\n", w.Name(), d.Seconds())
	}

	m := newMeter(cfg)
	var workers []Worker
	driver, isDriver := w.(Driver)
	if !isDriver {
		workers = make([]Worker, cfg.Clients)
		for i := range workers {
			workers[i] = w.NewWorker(i, env, m)
		}
	}

	release := m.begin(cfg.Duration)
	defer release()
	cpu := startCPU(opts.ServerPIDs)
	stopProgress := startProgress(opts.Progress, m)
	var err error
	if isDriver {
		err = driver.Drive(ctx, env, m)
	} else {
		closedLoop(ctx, cfg.RequestTimeout, m, workers)
	}
	elapsed := m.elapsed()
	usage := cpu.stop()
	stopProgress()
	if err != nil {
		return Result{}, fmt.Errorf("bench: %s: %w", w.Name(), err)
	}
	res := m.finish(w.Name(), elapsed)
	res.Config = *cfg
	res.CPU = usage
	return res, nil
}

// closedLoop runs one goroutine per worker, each with one request in flight,
// until the meter stops handing out requests.
func closedLoop(ctx context.Context, timeout time.Duration, m *Meter, workers []Worker) {
	var wg sync.WaitGroup
	for _, wk := range workers {
		rec := m.Recorder()
		wg.Go(func() {
			for {
				seq, ok := m.Take(ctx)
				if !ok {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, timeout)
				start := m.now()
				err := wk.Do(rctx, seq)
				d := m.now().Sub(start)
				cancel()
				switch {
				case err == nil:
					m.Done(rec, d)
				case ctx.Err() != nil:
					return // interrupted: neither a success nor a server error
				default:
					m.Fail(err)
				}
			}
		})
	}
	wg.Wait()
}

// startProgress prints a progress line to w every second until the returned
// function is called; that function erases the line and waits for the
// printer to exit.
func startProgress(w io.Writer, m *Meter) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastN int64
		last := m.start
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				n, errs := m.done.Load(), m.errs.Load()
				rate := float64(n-lastN) / now.Sub(last).Seconds()
				fmt.Fprintf(w, "\r\033[K%6.1fs  %10d requests  %9.0f req/s  %d errors",
					now.Sub(m.start).Seconds(), n, rate, errs)
				lastN, last = n, now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
