#!/bin/sh
# Cost of culprit finding in `pipeline promote`: probes and rounds on
# generated histories beside the issue's formulas. Prints the table recorded
# in docs/promote.md, a flaky-test run, and the Go benchmark. Exits non-zero
# when a bound is not met.
set -eu
cd "$(dirname "$0")/../.."
echo "== deterministic test, promote.retries=1, P = 1 and 3"
go run ./bench/promote -trials 300 -parallel 1,3
echo
echo "== flaky test: a good tree fails 5% of the time, promote.retries=2, P = 1"
go run ./bench/promote -trials 300 -parallel 1 -flaky 0.05 -retries 2
echo
echo "== Go benchmark (same simulation)"
go test ./stages/promote -run '^$' -bench Plan -benchtime 200x
