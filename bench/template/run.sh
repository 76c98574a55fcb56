#!/usr/bin/env bash
# Figures of the template stage (docs/template.md, "Measured"):
#  1. the step timings of a first build of the small test recipe
#     (`pipeline template --force --json`, the "steps" of its result), and
#  2. a cache hit (the same run again, key already in the store), side by side
#     with the Go benchmarks BenchmarkCacheHit and BenchmarkKey.
# Needs root and the tools of scripts/deps/template.sh. Takes a few minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/bench/out/template"; mkdir -p "$out"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/pipeline" ./cmd/pipeline)

cat > "$work/pipeline.yaml" <<YAML
version: 1
artifacts: {url: "file://$work/store"}
stages: [template]
template:
  name: bench/minimal
  base: {suite: bookworm, kernel: linux-image-cloud-amd64}
  disk_size: 2G
  boot: {timeout: 10m}
  cache_dir: /var/tmp/pipeline-testcache/base
YAML

echo "== first build (base root filesystem from the cache when present)"
"$work/pipeline" --repo "$work" --json template --force > "$out/first.json"
python3 - "$out/first.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["results"][0]
print(f"total {d['seconds']:.1f}s  key {d['data']['key']}")
for s in d["data"]["steps"]:
    print(f"  {s['step']:<24} {s['seconds']:8.1f}s" + (f"  {s['bytes']/2**20:8.1f} MiB" if s.get("bytes") else ""))
for f in d["data"]["files"]:
    print(f"  file {f['name']:<32} {f['size']/2**20:8.1f} MiB")
PY

echo "== cache hit (hyperfine, 10 runs)"
hyperfine --warmup 1 --runs 10 --export-json "$out/cachehit.json" "$work/pipeline --repo $work template"

echo "== Go benchmarks"
(cd "$root" && go test -run '^$' -bench 'BenchmarkCacheHit|BenchmarkKey' -benchtime 10x ./stages/template/)
