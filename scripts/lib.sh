# lib.sh: shared by bench.sh and datascale.sh (sourced, not run).

# prepare_tools PROG: build bin/cairn-bench and bin/cairn unless --no-build
# or other binaries were given; install Debian's etcd-server, etcd-client
# and jq when missing (as .ci/run does); then check that every binary the
# run needs is there, exiting with a message naming PROG if not. Reads the
# caller's build, bench_bin, cairn_bin, etcd_bin and servers; sets GO.
prepare_tools() {
	local prog=$1 s b sudo
	local -a need=()
	GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
	if [ "$build" = 1 ]; then
		if [ "$bench_bin" = bin/cairn-bench ]; then
			"$GO" build -o bin/cairn-bench ./cmd/cairn-bench
		fi
		if [[ " ${servers[*]} " == *" cairn "* && "$cairn_bin" == bin/cairn ]]; then
			"$GO" build -o bin/cairn ./cmd/cairn
		fi
	fi
	[[ " ${servers[*]} " == *" etcd "* && "$etcd_bin" == /usr/bin/etcd && ! -x /usr/bin/etcd ]] && need+=(etcd-server)
	command -v etcdctl >/dev/null || need+=(etcd-client)
	command -v jq >/dev/null || need+=(jq)
	if [ "${#need[@]}" -gt 0 ]; then
		sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
		command -v apt-get >/dev/null || { echo "$prog: needs ${need[*]} (Debian packages) and cannot install them without apt-get" >&2; exit 1; }
		echo "$prog: installing ${need[*]}" >&2
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	fi
	for s in "${servers[@]}"; do
		b=$etcd_bin; [ "$s" = cairn ] && b=$cairn_bin
		[ -x "$b" ] || { echo "$prog: $s binary $b not found" >&2; exit 1; }
	done
	[ -x "$bench_bin" ] || { echo "$prog: cairn-bench binary $bench_bin not found" >&2; exit 1; }
	command -v jq >/dev/null || { echo "$prog: needs jq" >&2; exit 1; }
	command -v etcdctl >/dev/null || { echo "$prog: needs etcdctl (Debian etcd-client)" >&2; exit 1; }
}
