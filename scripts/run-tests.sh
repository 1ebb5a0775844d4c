#!/bin/bash
# run-tests.sh - run the unit tests, the end-to-end tests and short fuzz
# runs; print one closing "N passed, N failed" line.
#   run-tests.sh [unit|e2e|fuzz|all]
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
passed=0
failed=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TESTDATA=${TESTDATA:-$(cd .. && pwd)/shared/testdata}

run_unit() {
	local t out p f
	for t in $(find build/asan/tests -type f -perm -u+x | sort); do
		out=$("$t" 2>&1)
		rc=$?
		echo "$out" | grep -E '^FAIL|passed,' | head -50
		p=$(echo "$out" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' | tail -1)
		f=$(echo "$out" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' | tail -1)
		if [ -z "$p" ]; then
			echo "$out" | tail -40
			echo "FAIL $t: crashed or printed no summary (exit $rc)"
			failed=$((failed + 1))
			continue
		fi
		if [ "$rc" -ne 0 ] && [ "$f" = 0 ]; then
			echo "$out" | tail -40
			echo "FAIL $t: exit $rc (sanitizer?)"
			f=1
		fi
		passed=$((passed + p))
		failed=$((failed + f))
	done
}

run_e2e() {
	local log=build/e2e.log
	POSTINO=$PWD/build/asan/postino /usr/bin/python3 -m pytest -q \
		-p no:cacheprovider tests/e2e 2>&1 | tee "$log" | tail -60
	local line
	line=$(grep -E '(passed|failed|error)' "$log" | tail -1)
	local p f e
	p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
	f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
	e=$(echo "$line" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
	[ -z "$p" ] && [ -z "$f" ] && { echo "FAIL e2e: no result"; failed=$((failed + 1)); }
}

# Fuzzing in `make test` is reproducible: a fixed seed and a fixed number
# of runs per target over its seed corpus, so CI sees exactly what the
# developer saw.  For exploration set FUZZ_SECONDS (random seed, bounded
# time), e.g. FUZZ_SECONDS=300 make fuzz; crashes land in build/.
run_fuzz() {
	local fz name corpus tmp how
	for fz in $(find build/fuzz -maxdepth 2 -type f -name '*_fuzz' | sort); do
		name=$(basename "$fz")
		tmp=$(mktemp -d)
		corpus=tests/fuzz/$name
		[ -d "$corpus" ] && cp -r "$corpus"/. "$tmp"/
		if [ -n "${FUZZ_SECONDS:-}" ]; then
			how="-max_total_time=$FUZZ_SECONDS"
		else
			how="-seed=1 -runs=${FUZZ_RUNS:-50000}"
		fi
		if "$fz" $how -max_len=65536 -rss_limit_mb=2048 -timeout=25 \
			-artifact_prefix=build/"$name"- \
			"$tmp" >"build/$name.log" 2>&1; then
			echo "fuzz $name: ok ($how)"
			passed=$((passed + 1))
		else
			tail -30 "build/$name.log"
			echo "FAIL fuzz $name (see build/$name.log)"
			failed=$((failed + 1))
		fi
		rm -rf "$tmp"
	done
}

case $what in
unit) run_unit ;;
e2e) run_e2e ;;
fuzz) run_fuzz ;;
all) run_unit; run_e2e; run_fuzz ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
