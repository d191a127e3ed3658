// Package robustness proves Cairn's guarantees under faults: it runs a
// cluster of the real server binary on loopback behind partition proxies
// (tests/framework), drives it with concurrent clients and watchers while a
// nemesis kills, pauses, partitions, fills the disk of, and replaces
// members, and checks after every round:
//
//   - the clients' history is linearizable (porcupine, with a model that
//     knows revisions, leases and the outcome-unknown case);
//   - every acknowledged write is in the store's history at its revision;
//   - serializable reads match the store at their revision and never go
//     backwards on one member;
//   - every watcher, across the streams it resumed on, delivered exactly
//     the store's history on its range from its start revision: ordered,
//     unique, without gaps, whole revisions per response, right prev_kv;
//     and no progress notification ran ahead of the events;
//   - HashKV at the final revision is equal on every member, and each
//     round starts where the previous one ended.
//
// The store's history is read back by Range at every revision, a read path
// independent of watch, after the round is quiescent.
//
// Files: run.go (rounds, the Runner), traffic.go (clients), watch.go
// (watchers), nemesis.go and diskfull.go (faults), model.go (porcupine
// model), history.go (store history, settling unknown outcomes), checks.go
// (the other checks), summary.go and recording.go (reports). The tests:
// TestRobustness (the fault run), FuzzGRPC (bad input to every method),
// TestDataDirDamaged (damaged data dirs), TestReplay (re-check a recorded
// round), and unit tests of the model and checks.
//
// Run it with
//
//	go test ./tests/robustness -run TestRobustness -args -seed N -duration D
//
// or through scripts/soak.sh. See docs/reliability.md.
package robustness
