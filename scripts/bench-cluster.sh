#!/usr/bin/env bash
# bench-cluster.sh: a 3-member etcd 3.4 cluster and a 3-member Cairn cluster,
# one after the other on loopback (fresh data dirs, the same flags), each
# driven by cairn-bench through all three endpoints; rounds alternate etcd,
# cairn, etcd, cairn. A thin wrapper over scripts/bench.sh --members 3,
# which prints the per-run lines and the tables of medians and ratios.
#   usage: scripts/bench-cluster.sh [ROUNDS] [SECONDS] [WORKLOAD ARGS...]
#   default: 2 rounds of 10 s, workload put --clients 256 --conns 8 (put-256)
#   WORKLOAD ARGS are cairn-bench arguments (bench.sh --custom), e.g.
#     scripts/bench-cluster.sh 2 6 range --clients 256 --conns 8
#   BENCH_OPTS adds bench.sh options, e.g. BENCH_OPTS="--write --no-build".
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
secs=${2:-10}
shift $(($# < 2 ? $# : 2))
# shellcheck disable=SC2086 # BENCH_OPTS holds words on purpose
if [ $# -gt 0 ]; then
	exec scripts/bench.sh --members 3 --rounds "$rounds" --duration "$secs" ${BENCH_OPTS:-} --custom "$*"
fi
exec scripts/bench.sh --members 3 --rounds "$rounds" --duration "$secs" ${BENCH_OPTS:-} --workloads put-256
