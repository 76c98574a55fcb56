#!/usr/bin/env bash
# README's test command: installs everything the tests need on a fresh
# Debian 12 machine (apt packages, npm tools, the MinIO build, golangci-lint),
# then checks formatting, vet and lint, and runs every test (unit, e2e, real tools).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
stamp() { echo "== $* ($(( $(date +%s) - start ))s)"; }

stamp "installing dependencies"
bash scripts/install-deps.sh
export PATH="$(go env GOPATH)/bin:$PATH"

# The fixtures the slow packages share are made first, beside gofmt and vet
# (compiling) since bootstrapping is mostly downloads and dpkg: the
# runner/integration Debian base (stages/build's chroot test bootstraps it)
# and the template image (the template fixture test builds it). Otherwise
# `go test ./...` reaches them package by package, and a package waiting on
# another's fixture lock holds one of the two parallel slots doing nothing.
# Warm, this step takes under a minute.
stamp "test fixtures (Debian base, template image) in the background"
fixtures_log=/tmp/pipeline-test-fixtures.log
go test -count=1 -timeout 40m -run '^(TestChrootInstall|TestFixtureImage)$' ./stages/build ./stages/template >"$fixtures_log" 2>&1 &
fixtures=$!
trap 'kill "$fixtures" 2>/dev/null || true' EXIT # gofmt or vet failed: stop it

stamp "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...

stamp "golangci-lint (.golangci.yml)"
golangci-lint run ./...
stamp "waiting for the test fixtures"
if ! wait "$fixtures"; then
  cat "$fixtures_log"
  echo "test fixtures failed (log above, $fixtures_log); go test runs anyway and reports them"
fi
tail -3 "$fixtures_log"

stamp "go test"
go test -count=1 -timeout 40m ./... 2>&1 | tee /tmp/pipeline-go-test.log
rc=${PIPESTATUS[0]}
stamp "done (go test exit $rc)"
exit "$rc"
