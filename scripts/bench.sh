#!/usr/bin/env bash
# bench.sh: Cairn against Debian's etcd 3.4, side by side on this machine.
#
# Every run starts one server (fresh data dir, loopback, etcd's flags), runs
# one workload with bin/cairn-bench, reads the server's peak RSS (VmHWM) and
# stops it, then measures the data dir. Rounds alternate the servers
# (etcd, cairn, etcd, cairn, ...) so drifting machine load hits both alike.
# The markdown table of medians and ratios goes to stdout; --write also
# appends it to docs/performance.md. See docs/performance.md for details.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: scripts/bench.sh [options]

  --rounds N        rounds; each runs every workload on every server (default 3)
  --duration S      seconds per run (default 10)
  --quick           try it out: 2 s runs, 1 round (unless --rounds/--duration given)
  --only SERVER     run only etcd or only cairn (no ratios)
  --workloads LIST  comma-separated subset of: put-1,put-16,put-256,range-l,range-s
  --write           also append the tables to docs/performance.md
  --results FILE    keep the raw JSON lines (one per run) in FILE
  --etcd PATH       etcd binary (default /usr/bin/etcd)
  --cairn PATH      cairn binary (default bin/cairn, built from ./cmd/cairn)
  --no-build        do not build bin/cairn and bin/cairn-bench
  -h, --help        this help

Workloads (key 8 B, value 256 B, 10,000 random keys; range preloads them):
  put-1    put, 1 client
  put-16   put, 16 clients
  put-256  put, 256 clients over 8 connections
  range-l  range linearizable, 256 clients over 8 connections
  range-s  range serializable, 256 clients over 8 connections
EOF
}

cd "$(dirname "$0")/.."
cmdline="scripts/bench.sh"
for a in "$@"; do
	if [[ "$a" =~ ^[A-Za-z0-9_./,=:+-]+$ ]]; then cmdline+=" $a"; else cmdline+=" $(printf '%q' "$a")"; fi
done

rounds="" duration="" quick=0 only="" write=0 results="" build=1
etcd_bin=/usr/bin/etcd cairn_bin=bin/cairn
workloads="put-1,put-16,put-256,range-l,range-s"
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift ;;
	--duration) duration=$2; shift ;;
	--quick) quick=1 ;;
	--only) only=$2; shift ;;
	--workloads) workloads=$2; shift ;;
	--write) write=1 ;;
	--results) results=$2; shift ;;
	--etcd) etcd_bin=$2; shift ;;
	--cairn) cairn_bin=$2; shift ;;
	--no-build) build=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if [ "$quick" = 1 ]; then
	: "${rounds:=1}" "${duration:=2}"
fi
: "${rounds:=3}" "${duration:=10}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --rounds must be a positive integer" >&2; exit 2; }
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --duration must be whole seconds" >&2; exit 2; }

case "$only" in
"") servers=(etcd cairn) ;;
etcd | cairn) servers=("$only") ;;
*) echo "bench.sh: --only takes etcd or cairn" >&2; exit 2 ;;
esac

# The workloads: id, label, cairn-bench arguments.
common=(--key-size 8 --val-size 256 --key-space 10000)
declare -A label args
label[put-1]="put, 1 client";                        args[put-1]="--clients 1 --conns 1 put"
label[put-16]="put, 16 clients";                     args[put-16]="--clients 16 --conns 1 put"
label[put-256]="put, 256 clients, 8 conns";          args[put-256]="--clients 256 --conns 8 put"
label[range-l]="range linearizable, 256 clients";    args[range-l]="--clients 256 --conns 8 range --consistency l"
label[range-s]="range serializable, 256 clients";    args[range-s]="--clients 256 --conns 8 range --consistency s"
IFS=, read -r -a wl <<<"$workloads"
for w in "${wl[@]}"; do
	[ -n "${label[$w]:-}" ] || { echo "bench.sh: unknown workload $w" >&2; exit 2; }
done

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
if [ "$build" = 1 ]; then
	"$GO" build -o bin/cairn-bench ./cmd/cairn-bench
	if [[ " ${servers[*]} " == *" cairn "* && "$cairn_bin" == bin/cairn ]]; then
		"$GO" build -o bin/cairn ./cmd/cairn
	fi
fi
for s in "${servers[@]}"; do
	b=$etcd_bin; [ "$s" = cairn ] && b=$cairn_bin
	[ -x "$b" ] || { echo "bench.sh: $s binary $b not found" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "bench.sh: needs jq" >&2; exit 1; }
command -v etcdctl >/dev/null || { echo "bench.sh: needs etcdctl (Debian etcd-client)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
[ -n "$results" ] || results=$work/results.jsonl
: >"$results"
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port nobody listens on (a race with other
# programs picking ports is possible but harmless: the server would fail to
# start and the run reports it).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# stop_server: SIGTERM, then SIGKILL after 15 s.
stop_server() {
	local pid=$server_pid i
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	server_pid=""
}

# run_one SERVER WORKLOAD ROUND: one fresh server, one workload, one JSON line.
run_one() {
	local server=$1 w=$2 round=$3 bin dir cport pport client peer rss disk apparent i
	bin=$etcd_bin; [ "$server" = cairn ] && bin=$cairn_bin
	dir=$(mktemp -d "$work/$server.XXXX")
	local attempt up=0
	for attempt in 1 2 3; do
		cport=$(free_port); pport=$(free_port)
		while [ "$pport" = "$cport" ]; do pport=$(free_port); done
		client=http://127.0.0.1:$cport peer=http://127.0.0.1:$pport
		rm -rf "$dir/data"
		"$bin" --name bench --data-dir "$dir/data" \
			--listen-client-urls "$client" --advertise-client-urls "$client" \
			--listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
			--initial-cluster "bench=$peer" --initial-cluster-state new \
			--log-level error >"$dir/server.log" 2>&1 &
		server_pid=$!
		for i in $(seq 60); do
			if ETCDCTL_API=3 timeout 5 etcdctl --endpoints "$client" --dial-timeout 1s \
				--command-timeout 1s endpoint health >/dev/null 2>&1; then
				up=1
				break
			fi
			if ! kill -0 "$server_pid" 2>/dev/null || [ "$i" = 60 ]; then
				break
			fi
			sleep 0.5
		done
		[ "$up" = 1 ] && break
		stop_server
		# Another process took a free port between the check and the bind:
		# try again on new ports.
		grep -q "address already in use" "$dir/server.log" && continue
		break
	done
	if [ "$up" != 1 ]; then
		echo "bench.sh: $server did not come up on $client; its log:" >&2
		tail -20 "$dir/server.log" >&2
		exit 1
	fi
	# shellcheck disable=SC2086 # args[] holds words on purpose
	if ! timeout $((duration * 3 + 120)) bin/cairn-bench --endpoints "$client" --json --server-pid "$server_pid" \
		--duration "${duration}s" "${common[@]}" ${args[$w]} >"$dir/result.json" 2>"$dir/bench.err"; then
		echo "bench.sh: cairn-bench failed against $server ($w):" >&2
		cat "$dir/bench.err" >&2
		exit 1
	fi
	rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)
	stop_server
	disk=$(du -sk "$dir/data" | cut -f1)
	apparent=$(du -sk --apparent-size "$dir/data" | cut -f1)
	jq -c --arg server "$server" --arg lbl "${label[$w]}" --argjson round "$round" \
		--argjson rss "${rss:-0}" --argjson disk "$disk" --argjson apparent "$apparent" \
		'. + {server: $server, label: $lbl, round: $round, rss_kib: $rss, disk_kib: $disk, disk_apparent_kib: $apparent}' \
		"$dir/result.json" >>"$results"
	jq -r --arg s "$server" --arg l "${label[$w]}" --argjson r "$round" --argjson rss "${rss:-0}" \
		'"round \($r) \($l): \($s) \(.throughput | floor) req/s, p50 \(.p50_ms * 100 | round / 100) ms, p99 \(.p99_ms * 100 | round / 100) ms, RSS \($rss / 1024 | floor) MiB, errors \(.errors)"' \
		"$dir/result.json" >&2
	rm -rf "$dir"
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
for round in $(seq "$rounds"); do
	for w in "${wl[@]}"; do
		for s in "${servers[@]}"; do
			run_one "$s" "$w" "$round"
		done
	done
done

# version prints the line of `--version` naming the server (cairn prints
# etcd's API version first, then its own).
version() {
	local out
	out=$(timeout 5 "$1" --version 2>/dev/null || true)
	grep -i -m1 "^$2 version" <<<"$out" || head -1 <<<"$out"
}
report() {
	echo "### $started"
	echo
	echo "Command: \`$cmdline\`"
	echo
	echo "Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), Linux $(uname -r)"
	echo
	for s in "${servers[@]}"; do
		if [ "$s" = etcd ]; then
			echo "- etcd: \`$etcd_bin\`, $(version "$etcd_bin" etcd)"
		else
			echo "- cairn: \`$cairn_bin\`, $(version "$cairn_bin" cairn)$(git describe --always --dirty 2>/dev/null | sed 's/.*/ (commit &)/' || true)"
		fi
	done
	echo
	echo "$rounds round(s) of ${duration} s runs, servers alternating in each round; key 8 B, value 256 B, 10,000 random keys."
	echo
	bin/cairn-bench report --baseline etcd "$results"
}
report | tee "$work/report.md"
if [ "$write" = 1 ]; then
	{ echo; cat "$work/report.md"; } >>docs/performance.md
	echo "bench.sh: appended to docs/performance.md" >&2
fi
