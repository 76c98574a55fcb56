#!/bin/sh
# Cost of culprit finding in `pipeline promote`: probes and rounds on
# generated histories beside the issue's formulas. Prints the table recorded
# in docs/promote.md, a flaky-test run, and the Go benchmark. Exits non-zero
# when a bound is not met.
set -eu
cd "$(dirname "$0")/../.."
echo "== deterministic test, promote.retries=0 (the default), P = 1 and 3"
go run ./bench/promote -trials 300 -parallel 1,3 -retries 0
echo
for r in 0 1; do
	echo "== flaky test: a good tree fails 5% of the time, promote.retries=$r, P = 1"
	go run ./bench/promote -trials 300 -parallel 1 -flaky 0.05 -retries $r
	echo
done
echo
echo "== Go benchmark (same simulation)"
go test ./stages/promote -run '^$' -bench Plan -benchtime 200x
