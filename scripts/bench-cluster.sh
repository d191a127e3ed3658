#!/usr/bin/env bash
# bench-cluster.sh: a 3-member etcd 3.4 cluster and a 3-member Cairn cluster,
# one after the other on loopback (fresh data dirs, the same flags), each
# driven by cairn-bench through all three endpoints. Rounds alternate
# etcd, cairn, etcd, cairn; one line per run.
#   usage: scripts/bench-cluster.sh [ROUNDS] [SECONDS] [WORKLOAD ARGS...]
#   default workload: put --clients 256 --conns 8
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
secs=${2:-10}
shift $(( $# < 2 ? $# : 2 ))
[ $# -gt 0 ] || set -- put --clients 256 --conns 8
go build -o bin/cairn ./cmd/cairn
go build -o bin/cairn-bench ./cmd/cairn-bench
work=$(mktemp -d /tmp/bench-cluster.XXXX)
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
run() {
	local bin=$1 name=$2 ic="" eps="" i
	shift 2
	local -a cp pp
	for i in 1 2 3; do
		cp[$i]=$(port); pp[$i]=$(port)
		ic+="m$i=http://127.0.0.1:${pp[$i]},"; eps+="127.0.0.1:${cp[$i]},"
	done
	ic=${ic%,}; eps=${eps%,}
	pids=()
	for i in 1 2 3; do
		"$bin" --name "m$i" --data-dir "$work/$name.$i" --listen-client-urls "http://127.0.0.1:${cp[$i]}" \
			--advertise-client-urls "http://127.0.0.1:${cp[$i]}" --listen-peer-urls "http://127.0.0.1:${pp[$i]}" \
			--initial-advertise-peer-urls "http://127.0.0.1:${pp[$i]}" --initial-cluster "$ic" \
			--initial-cluster-state new --log-level error >"$work/$name.$i.log" 2>&1 &
		pids+=($!)
	done
	for _ in $(seq 60); do
		ETCDCTL_API=3 timeout 5 etcdctl --endpoints "$eps" endpoint health >/dev/null 2>&1 && break
		sleep 0.5
	done
	printf '%-6s ' "$name"
	timeout $((secs * 3 + 60)) bin/cairn-bench --endpoints "$eps" --duration "${secs}s" "$@" 2>&1 |
		grep -E 'throughput|latency' | tr -s ' ' | tr '\n' ' ' || true
	echo
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
	rm -rf "${work:?}"/*
}
for _ in $(seq "$rounds"); do
	run /usr/bin/etcd etcd "$@"
	run bin/cairn cairn "$@"
done
