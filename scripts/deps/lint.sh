#!/usr/bin/env bash
# golangci-lint, pinned, for scripts/test.sh's lint step (.golangci.yml).
# Built once with `go install` into GOPATH/bin; a second run only checks
# the version. Idempotent.
set -euo pipefail
version=v2.15.0
bin="$(go env GOPATH)/bin/golangci-lint"
if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "version ${version#v} "; then
  exit 0
fi
echo "install-deps(lint): go install golangci-lint $version"
go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$version"
