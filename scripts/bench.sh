#!/usr/bin/env bash
# bench.sh: Cairn against Debian's etcd 3.4, side by side on this machine.
#
# Every run starts one server (fresh data dir, loopback, etcd's flags), or a
# cluster of --members processes of it, runs one workload with
# bin/cairn-bench through all its endpoints, reads the server's peak RSS
# (VmHWM, the largest over the members) and stops it, then measures the data
# dir (summed over the members). Rounds alternate the servers
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
  --workloads LIST  comma-separated subset of: put-1,put-16,put-256,range-l,
                    range-s,watch-1000,lease-ka (default: all of them)
  --members LIST    cluster sizes, comma-separated (default 1); "1,3" runs every
                    workload on one member and on three members (three
                    processes of the same server on loopback, the generator
                    given all three endpoints)
  --custom ARGS     add a workload: these cairn-bench arguments (after the
                    common ones, which they may override), e.g.
                    --custom 'range --clients 64 --conns 4 --consistency s'
  --write           also append the tables to docs/performance.md
  --results FILE    keep the raw JSON lines (one per run) in FILE
  --etcd PATH       etcd binary (default /usr/bin/etcd)
  --cairn PATH      cairn binary (default bin/cairn, built from ./cmd/cairn)
  --bench PATH      cairn-bench binary (default bin/cairn-bench, built from
                    ./cmd/cairn-bench)
  --no-build        do not build bin/cairn and bin/cairn-bench
  -h, --help        this help

Workloads (key 8 B, value 256 B, 10,000 random keys; range preloads them):
  put-1    put, 1 client
  put-16   put, 16 clients
  put-256  put, 256 clients over 8 connections
  range-l  range linearizable, 256 clients over 8 connections
  range-s  range serializable, 256 clients over 8 connections
  watch-1000  1,000 watchers on one key over 8 connections, 16 writers with
           one put in flight each: events delivered/s and put-to-event
           latency
  lease-ka lease keep-alive (KeepAliveOnce), 256 clients over 8 connections,
           one lease each

With 3 rounds of 10 s, the default set on one member takes about 10 minutes
(42 runs of 10 s plus server start, preload and stop); --members 1,3 takes
more than twice as long (three members start and preload more slowly).
EOF
}

cd "$(dirname "$0")/.."
cmdline="scripts/bench.sh"
for a in "$@"; do
	if [[ "$a" =~ ^[A-Za-z0-9_./,=:+-]+$ ]]; then
		cmdline+=" $a"
	elif [[ "$a" != *"'"* ]]; then
		cmdline+=" '$a'"
	else
		cmdline+=" $(printf '%q' "$a")"
	fi
done

rounds="" duration="" quick=0 only="" write=0 results="" build=1 members_list=1 custom=""
etcd_bin=/usr/bin/etcd cairn_bin=bin/cairn bench_bin=bin/cairn-bench
workloads="put-1,put-16,put-256,range-l,range-s,watch-1000,lease-ka"
workloads_given=0
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift ;;
	--duration) duration=$2; shift ;;
	--quick) quick=1 ;;
	--only) only=$2; shift ;;
	--workloads) workloads=$2; workloads_given=1; shift ;;
	--members) members_list=$2; shift ;;
	--custom) custom=$2; shift ;;
	--bench) bench_bin=$2; shift ;;
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

IFS=, read -r -a members <<<"$members_list"
for n in "${members[@]}"; do
	[[ "$n" =~ ^[1-9]$ ]] || { echo "bench.sh: --members takes cluster sizes from 1 to 9, comma-separated" >&2; exit 2; }
done

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
label[watch-1000]="watch, 1000 watchers, one key";   args[watch-1000]="--conns 8 watch --watchers 1000 --writers 16"
label[lease-ka]="lease keep-alive, 256 clients";     args[lease-ka]="--clients 256 --conns 8 lease-keepalive"
IFS=, read -r -a wl <<<"$workloads"
if [ -n "$custom" ]; then
	label[custom]=$custom args[custom]=$custom
	# --custom alone runs only the custom workload.
	if [ "$workloads_given" = 1 ]; then wl+=(custom); else wl=(custom); fi
fi
for w in "${wl[@]}"; do
	[ -n "${label[$w]:-}" ] || { echo "bench.sh: unknown workload $w" >&2; exit 2; }
done

# Builds bin/cairn and bin/cairn-bench, installs what is missing, checks.
. scripts/lib.sh
prepare_tools bench.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")
[ -n "$results" ] || results=$work/results.jsonl
: >"$results"
server_pids=()
kill_servers() {
	local p
	for p in "${server_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${server_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	server_pids=()
}
cleanup() {
	kill_servers
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# next_port sets port to a loopback port nobody listens on and that is not
# in taken_ports, and adds it there (a race with other programs picking
# ports is possible but harmless: the server would fail to start and
# start_cluster tries again on other ports).
next_port() {
	while :; do
		# 10000-31999: below Linux's ephemeral range (32768-60999), where
		# outgoing connections take their local ports and a bind can fail.
		port=$((10000 + RANDOM % 22000))
		[[ " $taken_ports " == *" $port "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			taken_ports+=" $port"
			return
		fi
	done
}

# stop_servers: SIGTERM every member, then SIGKILL what is left after 15 s.
stop_servers() {
	local p i
	for p in "${server_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${server_pids[@]}"; do
		for i in $(seq 150); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	server_pids=()
}

# start_cluster BIN N DIR: start N members of BIN with data under DIR/data
# (DIR/data itself for one member, DIR/data/mI for member I of several) and
# wait until every endpoint is healthy. Sets server_pids and endpoints (the
# client URLs, comma-separated). Retries on new ports when a port was taken
# between the check and the bind. Returns 1 if the cluster did not come up.
start_cluster() {
	local bin=$1 n=$2 dir=$3 attempt i up cluster token port taken_ports
	local -a cport pport
	for attempt in 1 2 3 4 5; do
		up=0 cluster="" endpoints="" taken_ports=""
		token="bench-$$-$RANDOM"
		for i in $(seq "$n"); do
			next_port; cport[i]=$port
			next_port; pport[i]=$port
			cluster+="m$i=http://127.0.0.1:${pport[i]},"
			endpoints+="http://127.0.0.1:${cport[i]},"
		done
		cluster=${cluster%,} endpoints=${endpoints%,}
		rm -rf "$dir/data" "$dir"/server*.log
		for i in $(seq "$n"); do
			local name=m$i data=$dir/data/m$i log=$dir/server$i.log
			if [ "$n" = 1 ]; then name=bench data=$dir/data cluster="bench=http://127.0.0.1:${pport[1]}"; fi
			"$bin" --name "$name" --data-dir "$data" \
				--listen-client-urls "http://127.0.0.1:${cport[i]}" --advertise-client-urls "http://127.0.0.1:${cport[i]}" \
				--listen-peer-urls "http://127.0.0.1:${pport[i]}" --initial-advertise-peer-urls "http://127.0.0.1:${pport[i]}" \
				--initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "$token" \
				--log-level error >"$log" 2>&1 &
			server_pids+=($!)
		done
		for i in $(seq 60); do
			if ETCDCTL_API=3 timeout 10 etcdctl --endpoints "$endpoints" --dial-timeout 1s \
				--command-timeout 2s endpoint health >/dev/null 2>&1; then
				up=1
				break
			fi
			local p dead=0
			for p in "${server_pids[@]}"; do kill -0 "$p" 2>/dev/null || dead=1; done
			[ "$dead" = 1 ] && break
			sleep 0.5
		done
		[ "$up" = 1 ] && return 0
		stop_servers
		# Another process took a free port between the check and the bind:
		# try again on new ports.
		grep -q "address already in use" "$dir"/server*.log && continue
		break
	done
	return 1
}

# run_one SERVER WORKLOAD ROUND MEMBERS: a fresh server (or cluster), one
# workload, one JSON line.
run_one() {
	local server=$1 w=$2 round=$3 n=$4 bin dir rss disk apparent lbl p r f
	bin=$etcd_bin; [ "$server" = cairn ] && bin=$cairn_bin
	lbl=${label[$w]}
	[ "$n" -gt 1 ] && lbl+=", $n members"
	dir=$(mktemp -d "$work/$server.XXXX")
	if ! start_cluster "$bin" "$n" "$dir"; then
		echo "bench.sh: $server ($n member(s)) did not come up on $endpoints; its log(s):" >&2
		for f in "$dir"/server*.log; do tail -20 "$f" >&2; done
		exit 1
	fi
	local pids
	pids=$(IFS=,; echo "${server_pids[*]}")
	# shellcheck disable=SC2086 # args[] holds words on purpose
	if ! timeout $((duration * 3 + 120)) "$bench_bin" --endpoints "$endpoints" --json --server-pid "$pids" \
		--duration "${duration}s" "${common[@]}" ${args[$w]} >"$dir/result.json" 2>"$dir/bench.err"; then
		echo "bench.sh: cairn-bench failed against $server ($lbl):" >&2
		cat "$dir/bench.err" >&2
		exit 1
	fi
	rss=0
	for p in "${server_pids[@]}"; do
		r=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
		[ -n "$r" ] && [ "$r" -gt "$rss" ] && rss=$r
	done
	stop_servers
	disk=$(du -sk "$dir/data" | cut -f1)
	apparent=$(du -sk --apparent-size "$dir/data" | cut -f1)
	jq -c --arg server "$server" --arg lbl "$lbl" --argjson round "$round" \
		--argjson rss "$rss" --argjson disk "$disk" --argjson apparent "$apparent" \
		'. + {server: $server, label: $lbl, round: $round, rss_kib: $rss, disk_kib: $disk, disk_apparent_kib: $apparent}' \
		"$dir/result.json" >>"$results"
	jq -r --arg s "$server" --arg l "$lbl" --argjson r "$round" --argjson rss "$rss" \
		'"round \($r) \($l): \($s) \(.throughput | floor) \(if .workload == "watch" then "events" else "req" end)/s, p50 \(.p50_ms * 100 | round / 100) ms, p99 \(.p99_ms * 100 | round / 100) ms, RSS \($rss / 1024 | floor) MiB, errors \(.errors)"' \
		"$dir/result.json" >&2
	rm -rf "$dir"
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
for round in $(seq "$rounds"); do
	for n in "${members[@]}"; do
		for w in "${wl[@]}"; do
			for s in "${servers[@]}"; do
				run_one "$s" "$w" "$round" "$n"
			done
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
	echo "$rounds round(s) of ${duration} s runs, servers alternating in each round; key 8 B, value 256 B, 10,000 random keys; $(IFS=,; echo "${members[*]}") member(s) on loopback.$([[ " ${wl[*]} " == *" watch-1000 "* ]] && echo ' For watch, req/s is events delivered per second over all watchers, latencies run from the put to the event, and CPU µs/req is per event.')"
	echo
	"$bench_bin" report --baseline etcd "$results"
}
report | tee "$work/report.md"
if [ "$write" = 1 ]; then
	{ echo; cat "$work/report.md"; } >>docs/performance.md
	echo "bench.sh: appended to docs/performance.md" >&2
fi
