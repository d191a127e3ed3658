#!/usr/bin/env bash
# datascale.sh: Cairn against Debian's etcd 3.4 with a large data set.
#
# For each server in turn, one member on loopback with a fresh data dir and
# --quota-backend-bytes 8 GiB (so etcd does not stop at its 2 GiB default):
# load N keys of 256 B values (--val-size) as fast as cairn-bench put goes (sequential
# keys, every key once, 256 clients over 8 connections); read the peak RSS
# (VmHWM) and the RSS after the load (VmRSS); time single-key serializable
# and linearizable Gets over the whole key space (no preload); stop it with
# SIGTERM and measure the data dir; start it again and time how long it
# takes from the start of the process to the first linearizable Get that
# succeeds (polled every 10 ms), and the RSS right then. With --overwrite P,
# on the same running member: put every key P more times, compact at the
# current revision (physical), wait for the data dir to stop shrinking, stop
# it and measure the data dir; then start it again, defragment, stop it and
# measure again. Prints a markdown table with the Cairn/etcd ratios; --write
# also appends it to docs/performance.md.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: scripts/datascale.sh [options]

  --keys N           keys to load (default 1000000)
  --val-size B       value size in bytes (default 256)
  --quota BYTES      --quota-backend-bytes for both servers (default 8 GiB,
                     etcd's largest advised; raise it with --only cairn for a
                     data set past 8 GiB)
  --dir DIR          parent of the data dirs (default: a new directory under
                     ${TMPDIR:-/tmp}, removed at the end unless --keep)
  --keep             keep the data dirs
  --only SERVER      run only etcd or only cairn (no ratios)
  --range-seconds S  length of each range run (default 5)
  --steps N          load the keys in N equal steps; after each step but the
                     last, measure range (serializable and linearizable) over
                     the keys loaded so far and the live data dir, so that a
                     table shows how put rate and read latency change as the
                     data set grows (default 1: one load)
  --random-values    incompressible values, a different one per put
                     (cairn-bench --random-values), so that compression
                     makes no data set look smaller than it is
  --overwrite P      after the restart, put every key P more times (P passes
                     of sequential keys, each pass every key once in key
                     order, same values, same 256 clients over 8
                     connections), compact at the current revision with
                     --physical, wait until the data dir stops shrinking
                     (du every 2 s; same size 3 polls in a row, at most
                     60 s), stop and measure it; then restart, defrag, stop
                     and measure again (default 0: skip this phase). The disk
                     target compares Cairn without defrag to etcd after it.
  --write            also append the table to docs/performance.md
  --etcd PATH        etcd binary (default /usr/bin/etcd)
  --cairn PATH       cairn binary (default bin/cairn, built from ./cmd/cairn)
  --bench PATH       cairn-bench binary (default bin/cairn-bench, built from
                     ./cmd/cairn-bench)
  --no-build         do not build bin/cairn and bin/cairn-bench
  -h, --help         this help

Keys are the key index in zero-padded decimal, 8 bytes (more past 10^8
keys); values are 256 bytes unless --val-size. A 1,000,000-key run writes about 300 MB of
values per server and takes a few minutes on 2 CPUs.
EOF
}

cd "$(dirname "$0")/.."
cmdline="scripts/datascale.sh"
for a in "$@"; do
	if [[ "$a" =~ ^[A-Za-z0-9_./,=:+-]+$ ]]; then
		cmdline+=" $a"
	elif [[ "$a" != *"'"* ]]; then
		cmdline+=" '$a'"
	else
		cmdline+=" $(printf '%q' "$a")"
	fi
done

keys=1000000 val_size=256 parent="" keep=0 only="" range_secs=5 write=0 build=1 overwrite=0 steps=1 random=0
etcd_bin=/usr/bin/etcd cairn_bin=bin/cairn bench_bin=bin/cairn-bench
quota=$((8 << 30))
while [ $# -gt 0 ]; do
	case "$1" in
	--keys) keys=$2; shift ;;
	--val-size) val_size=$2; shift ;;
	--quota) quota=$2; shift ;;
	--dir) parent=$2; shift ;;
	--keep) keep=1 ;;
	--only) only=$2; shift ;;
	--range-seconds) range_secs=$2; shift ;;
	--steps) steps=$2; shift ;;
	--random-values) random=1 ;;
	--overwrite) overwrite=$2; shift ;;
	--write) write=1 ;;
	--etcd) etcd_bin=$2; shift ;;
	--cairn) cairn_bin=$2; shift ;;
	--bench) bench_bin=$2; shift ;;
	--no-build) build=0 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "datascale.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
[[ "$keys" =~ ^[1-9][0-9]*$ ]] || { echo "datascale.sh: --keys must be a positive integer" >&2; exit 2; }
[[ "$val_size" =~ ^[1-9][0-9]*$ ]] || { echo "datascale.sh: --val-size must be a positive integer" >&2; exit 2; }
[[ "$quota" =~ ^[1-9][0-9]*$ ]] || { echo "datascale.sh: --quota must be a positive number of bytes" >&2; exit 2; }
[[ "$range_secs" =~ ^[1-9][0-9]*$ ]] || { echo "datascale.sh: --range-seconds must be whole seconds" >&2; exit 2; }
[[ "$overwrite" =~ ^(0|[1-9][0-9]*)$ ]] || { echo "datascale.sh: --overwrite must be a whole number of passes" >&2; exit 2; }
[[ "$steps" =~ ^[1-9][0-9]*$ ]] && [ "$steps" -le "$keys" ] || { echo "datascale.sh: --steps must be a positive integer no larger than --keys" >&2; exit 2; }
case "$only" in
"") servers=(etcd cairn) ;;
etcd | cairn) servers=("$only") ;;
*) echo "datascale.sh: --only takes etcd or cairn" >&2; exit 2 ;;
esac
# Keys are the index zero-padded to key_size digits: 8, or more if needed.
key_size=$(( ${#keys} > 8 ? ${#keys} : 8 ))

# Builds bin/cairn and bin/cairn-bench, installs what is missing, checks.
. scripts/lib.sh
prepare_tools datascale.sh
# The overwrite phase's compact and defrag go through Debian's etcdctl 3.4,
# which works against both servers.
etcdctl_bin=/usr/bin/etcdctl
[ -x "$etcdctl_bin" ] || etcdctl_bin=$(command -v etcdctl)

if [ -n "$parent" ]; then
	mkdir -p "$parent"
	work=$(mktemp -d "$parent/datascale.XXXXXX")
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-datascale.XXXXXX")
fi
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	if [ "$keep" = 1 ]; then
		echo "datascale.sh: data dirs kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "datascale.sh: $*" >&2; }

# next_port sets port to a loopback port nobody listens on (not cport).
next_port() {
	while :; do
		# 10000-31999: below Linux's ephemeral range (32768-60999), where
		# outgoing connections take their local ports and a bind can fail.
		port=$((10000 + RANDOM % 22000))
		[ "$port" = "${cport:-}" ] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return
		fi
	done
}

# launch BIN DIR: start the member on cport/pport in the background; sets
# server_pid. The flags are the same for a first start and a restart (a
# member with data ignores the --initial-* ones).
launch() {
	local bin=$1 dir=$2 client=http://127.0.0.1:$cport peer=http://127.0.0.1:$pport
	"$bin" --name scale --data-dir "$dir/data" \
		--listen-client-urls "$client" --advertise-client-urls "$client" \
		--listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
		--initial-cluster "scale=$peer" --initial-cluster-state new \
		--quota-backend-bytes "$quota" --log-level error >>"$dir/server.log" 2>&1 &
	server_pid=$!
}

# wait_healthy: up to 60 s for etcdctl endpoint health; 1 if not.
wait_healthy() {
	local i
	for i in $(seq 120); do
		if ETCDCTL_API=3 timeout 5 etcdctl --endpoints "http://127.0.0.1:$cport" --dial-timeout 1s \
			--command-timeout 1s endpoint health >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}

# stop_server: SIGTERM, then SIGKILL after 60 s (a large store may take a
# while to close).
stop_server() {
	local i
	kill -TERM "$server_pid" 2>/dev/null || true
	for i in $(seq 600); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

status_kib() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0; }

# bench SECONDS ARGS...: cairn-bench against the member, one JSON line on
# stdout, killed after SECONDS.
bench() {
	local limit=$1
	shift
	timeout "$limit" "$bench_bin" --endpoints "http://127.0.0.1:$cport" --json --server-pid "$server_pid" \
		--key-size "$key_size" --val-size "$val_size" --key-space "$keys" $rv "$@"
}
rv=""
[ "$random" = 1 ] && rv=--random-values

# ctl ARGS...: etcdctl v3 against the member, with a long command timeout
# (a physical compaction or a defrag of a large store takes a while).
ctl() {
	ETCDCTL_API=3 "$etcdctl_bin" --endpoints "http://127.0.0.1:$cport" --dial-timeout 5s \
		--command-timeout 30m "$@"
}

# dir_size DIR: "BYTES KIB", du -sb (file sizes) and du -sk (disk blocks).
dir_size() { echo "$(du -sb "$1" | cut -f1) $(du -sk "$1" | cut -f1)"; }

mib() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1048576 }'; }

# since_s T0: seconds since T0 (date +%s%N), one decimal.
since_s() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'; }

# measure_dir SERVER DIR KEY WHAT: du of the stopped member's data dir into
# val[SERVER,KEY_bytes] and val[SERVER,KEY_kib]; the five biggest files by
# disk blocks, with their sizes, and a summary by kind of file go to the log
# and to DIR/files-KEY.txt.
measure_dir() {
	local s=$1 dir=$2 key=$3 what=$4 b k
	read -r b k < <(dir_size "$dir/data")
	val[$s,${key}_bytes]=$b
	val[$s,${key}_kib]=$k
	log "$s: data dir $what: $(mib "$b") MiB file sizes, $(mib $((k * 1024))) MiB disk blocks; biggest files by blocks:"
	find "$dir/data" -type f -printf '%k %s %P\n' | sort -k1,1nr -k2,2nr | awk 'NR <= 5' |
		awk '{ k = $1; b = $2; $1 = $2 = ""; sub(/^ +/, "");
			printf "    %9.1f MiB blocks %9.1f MiB size  %s\n", k / 1024, b / 1048576, $0 }' |
		tee "$dir/files-$key.txt" >&2
	# And all files by kind (extension, or the name without its number).
	find "$dir/data" -type f -printf '%k %s %f\n' |
		awk '{ n = $3; if (n ~ /^marker\./) t = "marker"; else if (match(n, /\.[A-Za-z]+$/)) t = substr(n, RSTART + 1); else { t = n; sub(/[-.]?[0-9]+$/, "", t) }
			c[t]++; k[t] += $1; b[t] += $2 }
			END { for (t in c) printf "%d %s: %d file%s, %.1f MiB blocks, %.1f MiB size\n", k[t], t, c[t], c[t] == 1 ? "" : "s", k[t] / 1024, b[t] / 1048576 }' |
		sort -k1,1nr | cut -d' ' -f2- | paste -sd';' | sed 's/;/; /g; s/^/    by kind: /' | tee -a "$dir/files-$key.txt" >&2
}

# settle SERVER DIR: poll du of DIR/data every 2 s until it is the same
# (file sizes and blocks) three polls in a row, at most 60 s.
settle() {
	local s=$1 dir=$2 t0=$SECONDS same=0 first prev cur
	first=$(dir_size "$dir/data")
	prev=$first
	while [ $((SECONDS - t0)) -lt 60 ] && [ "$same" -lt 3 ]; do
		sleep 2
		cur=$(dir_size "$dir/data")
		if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
		prev=$cur
	done
	local -a a=($first) b=($cur)
	log "$s: data dir $(mib "${a[0]}") -> $(mib "${b[0]}") MiB file sizes, $(mib $((a[1] * 1024))) -> $(mib $((b[1] * 1024))) MiB blocks in $((SECONDS - t0)) s$([ "$same" -ge 3 ] || echo ' (still changing at 60 s)')"
}

# overwrite_phase SERVER BIN DIR: with the member up after the restart, put
# every key $overwrite more times, compact, settle, stop and measure; then
# start, defrag, settle, stop and measure again. Leaves the member stopped.
overwrite_phase() {
	local s=$1 bin=$2 dir=$3 pass out reqs=0 errs=0 secs=0 rev t0
	for pass in $(seq "$overwrite"); do
		out=$(bench $((keys / 200 + 300)) --clients 256 --conns 8 --seq-keys --total "$keys" put 2>"$dir/bench.err") ||
			{ log "$s: overwrite pass $pass failed:"; cat "$dir/bench.err" >&2; exit 1; }
		echo "$out" >"$dir/overwrite-$pass.json"
		reqs=$((reqs + $(jq .requests <<<"$out")))
		errs=$((errs + $(jq .errors <<<"$out")))
		secs=$(awk -v a="$secs" -v b="$(jq .seconds <<<"$out")" 'BEGIN { print a + b }')
		log "$s: overwrite pass $pass of $overwrite: $(jq -r '"\(.requests) puts at \(.throughput | floor)/s, \(.errors) errors"' <<<"$out")"
	done
	val[$s,ow_tput]=$(awk -v r="$reqs" -v t="$secs" 'BEGIN { print (t > 0 ? r / t : 0) }')
	val[$s,ow_errors]=$errs

	rev=$(ctl endpoint status -w json 2>"$dir/ctl.err" | jq '.[0].Status.header.revision' 2>/dev/null || true)
	if ! [[ "$rev" =~ ^[1-9][0-9]*$ ]]; then
		rev=$(ctl get 0 -w json 2>>"$dir/ctl.err" | jq .header.revision 2>/dev/null || true)
	fi
	[[ "$rev" =~ ^[1-9][0-9]*$ ]] || { log "$s: no revision to compact at:"; cat "$dir/ctl.err" >&2; exit 1; }
	t0=$(date +%s%N)
	ctl compact "$rev" --physical >"$dir/compact.out" 2>&1 ||
		{ log "$s: compact $rev failed:"; cat "$dir/compact.out" >&2; exit 1; }
	val[$s,compact_s]=$(since_s "$t0")
	log "$s: compacted at revision $rev (--physical) in ${val[$s,compact_s]} s"
	settle "$s" "$dir"
	stop_server
	measure_dir "$s" "$dir" ow "after $overwrite overwrites + compact, no defrag"

	launch "$bin" "$dir"
	wait_healthy || { log "$s did not come up for the defrag; its log:"; tail -20 "$dir/server.log" >&2; exit 1; }
	t0=$(date +%s%N)
	ctl defrag >"$dir/defrag.out" 2>&1 || { log "$s: defrag failed:"; cat "$dir/defrag.out" >&2; exit 1; }
	val[$s,defrag_s]=$(since_s "$t0")
	log "$s: defrag in ${val[$s,defrag_s]} s"
	settle "$s" "$dir"
	stop_server
	measure_dir "$s" "$dir" defrag "after $overwrite overwrites + compact + defrag"
}

declare -A val # val[server,metric]

# range_runs SERVER DIR KEY [BENCH ARGS...]: single-key Gets of random keys,
# serializable then linearizable, 256 clients over 8 connections, into
# val[SERVER,KEY_{s,l}_{tput,p50,p99}].
range_runs() {
	local s=$1 dir=$2 key=$3 c out
	shift 3
	for c in s l; do
		out=$(bench $((range_secs * 3 + 120)) --clients 256 --conns 8 --preload=false \
			--duration "${range_secs}s" "$@" range --consistency "$c" 2>"$dir/bench.err") ||
			{ log "$s: range $c failed:"; cat "$dir/bench.err" >&2; exit 1; }
		echo "$out" >"$dir/$key-$c.json"
		val[$s,${key}_${c}_tput]=$(jq .throughput <<<"$out")
		val[$s,${key}_${c}_p50]=$(jq .p50_ms <<<"$out")
		val[$s,${key}_${c}_p99]=$(jq .p99_ms <<<"$out")
		log "$s: range $c $(jq -r '"\(.throughput | floor) req/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, \(.errors) errors"' <<<"$out")"
	done
}

# run_server SERVER: the whole sequence for one server.
run_server() {
	local s=$1 bin dir attempt up=0 t0 out b
	bin=$etcd_bin; [ "$s" = cairn ] && bin=$cairn_bin
	dir=$work/$s
	for attempt in 1 2 3 4 5; do
		rm -rf "$dir"; mkdir -p "$dir"
		cport="" ; next_port; cport=$port; next_port; pport=$port
		launch "$bin" "$dir"
		if wait_healthy; then up=1; break; fi
		stop_server
		grep -q "address already in use" "$dir/server.log" && continue
		break
	done
	if [ "$up" != 1 ]; then
		log "$s did not come up; its log:"; tail -20 "$dir/server.log" >&2; exit 1
	fi

	local step from=0 to reqs=0 errs=0 secs=0 cpu=0 p99=0 n
	for step in $(seq "$steps"); do
		to=$((keys * step / steps))
		n=$((to - from))
		log "$s: loading keys $from to $((to - 1))$([ "$steps" = 1 ] || echo " (step $step of $steps)")"
		out=$(bench $((n / 200 + 300)) --clients 256 --conns 8 --seq-keys --first-key "$from" --total "$n" put 2>"$dir/bench.err") ||
			{ log "$s: load failed:"; cat "$dir/bench.err" >&2; exit 1; }
		echo "$out" >"$dir/load-$step.json"
		reqs=$((reqs + $(jq .requests <<<"$out")))
		errs=$((errs + $(jq .errors <<<"$out")))
		secs=$(awk -v a="$secs" -v b="$(jq .seconds <<<"$out")" 'BEGIN { print a + b }')
		cpu=$(awk -v a="$cpu" -v b="$(jq '.server_cpu_s // 0' <<<"$out")" 'BEGIN { print a + b }')
		p99=$(awk -v a="$p99" -v b="$(jq .p99_ms <<<"$out")" 'BEGIN { print (b > a ? b : a) }')
		val[$s,step${step}_keys]=$to
		val[$s,step${step}_put]=$(jq .throughput <<<"$out")
		val[$s,step${step}_put_p99]=$(jq .p99_ms <<<"$out")
		log "$s: $(jq -r '"\(.requests) puts at \(.throughput | floor)/s, p99 \(.p99_ms) ms, \(.errors) errors"' <<<"$out")"
		if [ "$step" -lt "$steps" ]; then
			read -r b _ < <(dir_size "$dir/data")
			val[$s,step${step}_du]=$b
			range_runs "$s" "$dir" "step$step" --key-space "$to"
		fi
		from=$to
	done
	val[$s,load_tput]=$(awk -v r="$reqs" -v t="$secs" 'BEGIN { print (t > 0 ? r / t : 0) }')
	val[$s,load_p99]=$p99
	val[$s,load_errors]=$errs
	val[$s,load_cpu]=$(awk -v c="$cpu" -v r="$reqs" 'BEGIN { print c * 1e6 / (r > 0 ? r : 1) }')
	val[$s,hwm]=$(status_kib VmHWM)
	val[$s,rss]=$(status_kib VmRSS)
	log "$s: loaded $reqs keys at $(awk -v v="${val[$s,load_tput]}" 'BEGIN { printf "%d", v }')/s, $errs errors, peak RSS $((val[$s,hwm] / 1024)) MiB, RSS $((val[$s,rss] / 1024)) MiB"

	read -r b _ < <(dir_size "$dir/data")
	val[$s,step${steps}_du]=$b
	range_runs "$s" "$dir" range
	local c m
	for c in s l; do
		for m in tput p50 p99; do
			val[$s,step${steps}_${c}_$m]=${val[$s,range_${c}_$m]}
		done
	done

	stop_server
	measure_dir "$s" "$dir" du "after the load and the range runs"

	# Restart on the same ports; the clock starts just before the process.
	t0=$(date +%s%N)
	launch "$bin" "$dir"
	out=$("$bench_bin" --endpoints "http://127.0.0.1:$cport" --key-size "$key_size" --json \
		first-read --since "$t0" --interval 10ms --timeout 5m 2>"$dir/bench.err") ||
		{ log "$s: no read after the restart:"; cat "$dir/bench.err" >&2; tail -20 "$dir/server.log" >&2; exit 1; }
	val[$s,restart_rss]=$(status_kib VmRSS)
	echo "$out" >"$dir/first-read.json"
	val[$s,first_read]=$(jq .first_read_ms <<<"$out")
	[ "$(jq .found <<<"$out")" = true ] || log "$s: warning: key 0 not found after the restart"
	log "$s: first linearizable read $(jq .first_read_ms <<<"$out") ms after the start, RSS $((val[$s,restart_rss] / 1024)) MiB"
	if [ "$overwrite" -gt 0 ]; then
		overwrite_phase "$s" "$bin" "$dir"
	else
		stop_server
	fi
	[ "$keep" = 1 ] || rm -rf "$dir/data"
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
for s in "${servers[@]}"; do
	run_server "$s"
done
# The disk target: Cairn without defrag against etcd after defrag.
for s in "${servers[@]}"; do
	k=ow; [ "$s" = etcd ] && k=defrag
	val[$s,target_bytes]=${val[$s,${k}_bytes]:-}
	val[$s,target_kib]=${val[$s,${k}_kib]:-}
done

# row LABEL METRIC FORMAT [DIVISOR]: one table row with the ratio.
row() {
	local label=$1 m=$2 fmt=$3 div=${4:-1} line s v
	line="| $label"
	local -a xs=()
	for s in "${servers[@]}"; do
		v=${val[$s,$m]:-}
		xs+=("$v")
		line+=" | $(awk -v v="$v" -v d="$div" -v f="$fmt" 'BEGIN { if (v == "") print "–"; else printf f, v / d }')"
	done
	if [ "${#servers[@]}" = 2 ]; then
		line+=" | $(awk -v a="${xs[0]}" -v b="${xs[1]}" 'BEGIN { if (a == "" || b == "" || a + 0 == 0) print "–"; else printf "%.2fx", b / a }')"
	fi
	echo "$line |"
}

version() {
	local out
	out=$(timeout 5 "$1" --version 2>/dev/null || true)
	grep -i -m1 "^$2 version" <<<"$out" || head -1 <<<"$out"
}

# step_table: one row per load step and server: keys loaded, the values'
# size, the step's put rate and p99, the live data dir, and the range runs
# over the keys loaded so far.
step_table() {
	local s i k
	echo
	echo "As the data set grows ($steps load steps; range over the keys loaded so far, measured after each step; data dir: du -sb of the running member's dir):"
	echo
	echo "| server | keys | values, GiB | step puts/s | step put p99 ms | data dir, GiB | range s req/s | range s p50 ms | range s p99 ms | range l req/s | range l p50 ms | range l p99 ms |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for s in "${servers[@]}"; do
		for i in $(seq "$steps"); do
			k=step$i
			awk -v s="$s" -v n="${val[$s,${k}_keys]:-0}" -v vs="$val_size" -v pt="${val[$s,${k}_put]:-0}" -v pp="${val[$s,${k}_put_p99]:-0}" \
				-v du="${val[$s,${k}_du]:-0}" -v st="${val[$s,${k}_s_tput]:-0}" -v s50="${val[$s,${k}_s_p50]:-0}" -v s99="${val[$s,${k}_s_p99]:-0}" \
				-v lt="${val[$s,${k}_l_tput]:-0}" -v l50="${val[$s,${k}_l_p50]:-0}" -v l99="${val[$s,${k}_l_p99]:-0}" \
				'BEGIN { printf "| %s | %d | %.1f | %.0f | %.1f | %.1f | %.0f | %.2f | %.2f | %.0f | %.2f | %.2f |\n", s, n, n * vs / 2^30, pt, pp, du / 2^30, st, s50, s99, lt, l50, l99 }'
		done
	done
}

report() {
	local n
	n=$(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$keys")
	echo "### $started, data scale: $n keys"
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
	echo "One member each on loopback, \`--quota-backend-bytes $quota\`; $n keys of $key_size B (sequential, each written once) with $val_size B $([ "$random" = 1 ] && echo "random (incompressible, a different one per put)" || echo "printable (one repeated, compressible)") values, loaded by \`cairn-bench put\` with 256 clients over 8 connections; range: single-key Gets of random keys over the whole key space, 256 clients over 8 connections, ${range_secs} s each."
	echo
	local head="| $n keys, $val_size B values" sep="|---"
	for s in "${servers[@]}"; do head+=" | $s"; sep+="|---:"; done
	if [ "${#servers[@]}" = 2 ]; then head+=" | ${servers[1]}/${servers[0]}"; sep+="|---:"; fi
	echo "$head |"
	echo "$sep|"
	row "load, puts/s" load_tput "%.0f"
	row "load, put p99 ms" load_p99 "%.1f"
	row "load, server CPU µs/put" load_cpu "%.0f"
	row "peak RSS during load (VmHWM), MiB" hwm "%.0f" 1024
	row "RSS after load (VmRSS), MiB" rss "%.0f" 1024
	row "data dir, file sizes (du -sb), MiB" du_bytes "%.0f" 1048576
	row "data dir, disk blocks (du -sk), MiB" du_kib "%.0f" 1024
	row "range serializable, req/s" range_s_tput "%.0f"
	row "range serializable, p50 ms" range_s_p50 "%.2f"
	row "range serializable, p99 ms" range_s_p99 "%.2f"
	row "range linearizable, req/s" range_l_tput "%.0f"
	row "range linearizable, p50 ms" range_l_p50 "%.2f"
	row "range linearizable, p99 ms" range_l_p99 "%.2f"
	row "restart: start to first linearizable read, ms" first_read "%.0f"
	row "RSS at the first read after restart (VmRSS), MiB" restart_rss "%.0f" 1024
	if [ "$overwrite" -gt 0 ]; then
		local p="$overwrite overwrite$([ "$overwrite" = 1 ] || echo s)"
		row "overwrite, $p of every key, puts/s" ow_tput "%.0f"
		row "compact --physical at the last revision, s" compact_s "%.1f"
		row "data dir after $p + compact, no defrag, file sizes (du -sb), MiB" ow_bytes "%.1f" 1048576
		row "data dir after $p + compact, no defrag, disk blocks (du -sk), MiB" ow_kib "%.1f" 1024
		row "defrag, s" defrag_s "%.1f"
		row "data dir after $p + compact + defrag, file sizes (du -sb), MiB" defrag_bytes "%.1f" 1048576
		row "data dir after $p + compact + defrag, disk blocks (du -sk), MiB" defrag_kib "%.1f" 1024
		row "disk target: cairn no defrag vs etcd after defrag, file sizes, MiB" target_bytes "%.1f" 1048576
		row "disk target: cairn no defrag vs etcd after defrag, disk blocks, MiB" target_kib "%.1f" 1024
	fi
	if [ "$steps" -gt 1 ]; then
		step_table
	fi
	echo
	echo "The data dir is measured after a clean stop (SIGTERM) at the end of the range runs; disk blocks count space preallocated past the end of files (WAL segments). The restart time runs from just before the process is started to the first successful linearizable Get (polled every 10 ms)."
	if [ "$overwrite" -gt 0 ]; then
		echo
		echo "Overwrite: on the restarted member, $overwrite pass$([ "$overwrite" = 1 ] || echo es) of \`cairn-bench put\` over the same key space (sequential keys, every key once per pass, same $val_size B values, 256 clients over 8 connections), then \`etcdctl compact REV --physical\` at the current revision, then du every 2 s until the data dir is the same three polls in a row (at most 60 s), then SIGTERM and measure. Defrag: start the member again, \`etcdctl defrag\`, the same wait, SIGTERM and measure. The disk target (data dir after heavy overwrite + compaction with no defrag no larger than etcd's after defrag) compares Cairn's \"no defrag\" size with etcd's \"after defrag\" size: the two \"disk target\" rows, met at cairn/etcd ≤ 1.00x."
	fi
	local errs=0 owerrs=0
	for s in "${servers[@]}"; do
		errs=$((errs + ${val[$s,load_errors]:-0}))
		owerrs=$((owerrs + ${val[$s,ow_errors]:-0}))
	done
	if [ "$errs" -gt 0 ]; then
		echo
		echo "Errors during the load: $(for s in "${servers[@]}"; do printf '%s %s ' "$s" "${val[$s,load_errors]}"; done)(a failed put leaves its key out)."
	fi
	if [ "$owerrs" -gt 0 ]; then
		echo
		echo "Errors during the overwrites: $(for s in "${servers[@]}"; do printf '%s %s ' "$s" "${val[$s,ow_errors]:-0}"; done)(a failed put leaves that key's older version)."
	fi
}
report | tee "$work/report.md"
if [ "$write" = 1 ]; then
	{ echo; cat "$work/report.md"; } >>docs/performance.md
	log "appended to docs/performance.md"
fi
