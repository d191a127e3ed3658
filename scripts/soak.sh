#!/usr/bin/env bash
# soak.sh: a long robustness run (tests/robustness) against the cairn built
# from this tree: faults, linearizability and watch checks, round after
# round, for DURATION of client traffic.
#
#   scripts/soak.sh DURATION [SEED]     e.g. scripts/soak.sh 30m 12345
#
# DURATION is a Go duration (90s, 30m, 2h); SEED defaults to a random one.
# Environment: CAIRN_ROBUSTNESS_SIZE=5 for five members (default 3),
# CAIRN_ROBUSTNESS_FAULTS=kill-leader,disk-full,... to limit the faults,
# CAIRN_SOAK_DIR for the output directory (default /tmp/cairn-soak-SEED-TIME).
# The output directory gets summary.json, run.log, the test's output and,
# on failure, the porcupine visualisation and every member's log.
# Disk-full faults need root (they mount a tmpfs); without it they are
# skipped and the summary says so. The exit status is go test's.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || $1 == -h || $1 == --help ]]; then
	sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
duration=$1
seed=${2:-$(( (RANDOM << 15 | RANDOM) + 1 ))}

# seconds parses a Go duration made of h, m and s parts.
seconds() {
	local d=$1 total=0 n unit
	while [[ $d =~ ^([0-9]+)(h|m|s)(.*)$ ]]; do
		n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
		case $unit in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
	done
	if [[ -n $d || $total -eq 0 ]]; then
		echo "soak.sh: cannot read duration '$1' (want e.g. 90s, 30m, 1h30m)" >&2
		exit 2
	fi
	echo "$total"
}
secs=$(seconds "$duration")
# Each round (at most 60 s of traffic) adds up to a few minutes of checking
# and recovery; allow for it generously.
timeout=$(( secs + (secs / 60 + 1) * 240 + 600 ))s

root=$(cd "$(dirname "$0")/.." && pwd)
out=${CAIRN_SOAK_DIR:-/tmp/cairn-soak-$seed-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
GO=${GO:-go}
command -v "$GO" >/dev/null || GO=/usr/local/go/bin/go

cd "$root"
"$GO" build -o "$out/cairn" ./cmd/cairn
echo "soak: seed $seed, $duration of traffic, output in $out"
echo "soak: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')" | tee "$out/commit.txt"
set +e
CAIRN_TEST_BINARY="$out/cairn" "$GO" test ./tests/robustness -run '^TestRobustness$' -count=1 -v -timeout "$timeout" \
	-args -seed "$seed" -duration "$duration" -outdir "$out" 2>&1 | tee "$out/test.log" |
	grep --line-buffered -E 'run.go:[0-9]+: \[|VIOLATION|^(---|ok|FAIL|PASS)'
status=${PIPESTATUS[0]}
set -e
echo
sed -n '/robustness run: seed/,/reproduce:/p' "$out/test.log" | sed 's/^ *run.go:[0-9]*: //'
echo "soak: exit status $status; summary in $out/summary.json"
exit "$status"
