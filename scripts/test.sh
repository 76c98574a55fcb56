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

stamp "gofmt and go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; exit 1; fi
go vet ./...

stamp "golangci-lint (.golangci.yml)"
golangci-lint run ./...

stamp "go test"
go test -count=1 -timeout 40m ./... 2>&1 | tee /tmp/pipeline-go-test.log
rc=${PIPESTATUS[0]}
stamp "done (go test exit $rc)"
exit "$rc"
