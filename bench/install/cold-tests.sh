#!/usr/bin/env bash
# Times the slow test packages as a new machine runs them: the test fixture
# cache (Debian bases, the template image, podman storage) and the Go build
# cache start empty. For each package it prints the wall time, the machine's
# load, and two counts that do not depend on the load: how many mmdebstrap
# bootstraps and how many qemu boots the package ran (PATH shims log every
# call, then run the real program).
#
#   sudo bash bench/install/cold-tests.sh                      # the slow packages, one new machine
#   sudo bash bench/install/cold-tests.sh ./runners/qemu       # only these packages
#   sudo EACH=1 bash bench/install/cold-tests.sh               # every package on an empty cache of its own
#   sudo WARM=1 bash bench/install/cold-tests.sh               # the usual caches: the warm figures
#   sudo KEEP_GOCACHE=1 bash bench/install/cold-tests.sh      # cold fixtures, the usual Go build cache
#   RUN='TestBootSSH' bash bench/install/cold-tests.sh ./runners/qemu   # go test -run
#
# By default the packages run one after the other on ONE empty cache, as a
# new machine's `go test ./...` would build each fixture once: a package's
# figure is then what it pays for the fixtures no earlier package made.
# EACH=1 gives every package an empty cache (its cost alone).
#
# Not made cold: the template stage's own base cache (/var/tmp/pipeline-cache/template,
# used by e2e's isolated flow with the example recipe), apt's and Debian's
# mirrors, the Go module cache (downloads, not builds), MinIO and the other
# installed tools. The results are also written to $OUT (a TSV).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
export PATH="$(go env GOPATH)/bin:$PATH"
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
  pkgs=(./stages/build ./runners ./runners/qemu ./stages/integration ./stages/template ./e2e)
fi
work=$(mktemp -d /var/tmp/pipeline-cold-tests.XXXXXX)
OUT=${OUT:-$work/results.tsv}
echo "cold-tests: work dir $work"

# PATH shims: log the call, run the real program.
shims=$work/shims
mkdir -p "$shims"
for prog in mmdebstrap qemu-system-x86_64; do
  real=$(command -v "$prog" || true)
  if [ -z "$real" ]; then echo "cold-tests: $prog is not installed (run scripts/install-deps.sh)" >&2; exit 3; fi
  cat > "$shims/$prog" <<EOF
#!/bin/sh
printf '%s\t%s\n' "$prog" "\$*" >> "\${COLD_TESTS_CALLS:-/dev/null}"
exec "$real" "\$@"
EOF
  chmod 755 "$shims/$prog"
done

cache=$work/testcache
gocache=$work/gocache
printf 'package\tmode\twall_s\tload_before\tload_after\tbootstraps\tqemu_boots\tresult\n' > "$OUT"
for pkg in "${pkgs[@]}"; do
  name=$(echo "$pkg" | tr -c 'a-zA-Z0-9\n' '_')
  if [ -n "${EACH:-}" ]; then
    cache=$work/testcache-$name
    gocache=$work/gocache-$name
  fi
  env=(COLD_TESTS_CALLS="$work/calls-$name.log" PATH="$shims:$PATH" CI=true)
  mode=cold
  if [ -n "${WARM:-}" ]; then
    mode=warm
  else
    mkdir -p "$cache" "$gocache"
    env+=(PIPELINE_TESTCACHE="$cache")
    [ -n "${KEEP_GOCACHE:-}" ] || env+=(GOCACHE="$gocache")
  fi
  : > "$work/calls-$name.log"
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  start=$(date +%s)
  result=ok
  env "${env[@]}" go test -count=1 -timeout 60m -v ${RUN:+-run "$RUN"} "$pkg" > "$work/test-$name.log" 2>&1 || result=FAIL
  wall=$(( $(date +%s) - start ))
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  # mmdebstrap --version and qemu -version are version probes, not work.
  boots=$(awk -F'\t' '$1 == "qemu-system-x86_64" && $2 !~ /(^| )--?version( |$)/' "$work/calls-$name.log" | wc -l)
  straps=$(awk -F'\t' '$1 == "mmdebstrap" && $2 !~ /(^| )--?version( |$)/' "$work/calls-$name.log" | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$pkg" "$mode" "$wall" "$load_before" "$load_after" "$straps" "$boots" "$result" >> "$OUT"
  echo "cold-tests: $pkg $mode: ${wall}s, load ${load_before}→${load_after}, $straps bootstrap(s), $boots qemu boot(s), $result (log $work/test-$name.log)"
done
echo
column -t -s $'\t' "$OUT"
echo "cold-tests: the fixture cache is kept in $work (remove it when done: it holds Debian bases and images)"
