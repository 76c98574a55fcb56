#!/bin/sh
# Measures the git layer on a 5000-commit history: deepening a depth-20 CI
# clone to a release tag 150 commits back vs unshallowing it, and reading
# 5000 commits with trailers. Run from the repository root:
#   sh bench/gitops/run.sh
set -eu
go test -run '^$' -bench 'DeepenToTag|Unshallow|Log5000' -benchtime 5x -count 1 ./gitops/
