// Package bench is the load generator behind cmd/cairn-bench. It drives any
// etcd v3 endpoint list (Cairn or etcd) through go.etcd.io/etcd/client/v3 and
// reports throughput and exact latency percentiles.
//
// # How a run works
//
//	Config ──Validate──▶ Run(ctx, cfg, workload)
//	                        │ dial cfg.Conns clients (one gRPC connection each)
//	                        │ workload.Prepare   (untimed: preload keys, grant leases)
//	                        │ ── timing starts ──
//	                        │ cfg.Clients goroutines, client i on connection i % Conns:
//	                        │     seq := schedule.take()   (total, deadline and --rate)
//	                        │     t0 := now; worker.Do(ctx, seq); recorder.add(now-t0)
//	                        │ ── timing stops when the last goroutine returns ──
//	                        ▼
//	                      Result: requests, errors, seconds, req/s, p50..max
//
// The loop is closed: each client has at most one request in flight, so
// --clients is the concurrency. --rate spaces the request starts evenly across
// all clients (request n starts at start + n/rate); latency is measured from
// the moment the request is sent.
//
// # Adding a workload
//
// A request/response workload (a lease keep-alive, a range over a prefix)
// implements Workload: Prepare does its untimed setup and NewWorker returns
// the per-client loop body. Register it in Workloads.
//
// A workload whose unit of work is not one request per client iteration —
// watch fan-out, where one put produces an event on every watcher and the
// latency that matters is put-to-delivery — also implements Driver. The
// runner then calls Drive instead of its closed loop and hands it a Meter:
// Drive starts its own goroutines (watchers, writers), takes request numbers
// from Meter.Take so --total, --duration and --rate keep their meaning, and
// records each latency sample through a Recorder from Meter.Recorder (one per
// goroutine, no locks on the hot path). Meter.End marks the end of the timed
// run when Drive has teardown left to do. The watch workload (watch.go) is
// the example: its requests are events delivered, its latencies run from the
// put's send (stamped in the value) to the event's arrival.
//
// FirstRead, behind "cairn-bench first-read", times a restart: it polls a
// linearizable Get until one succeeds (scripts/datascale.sh uses it).
package bench
