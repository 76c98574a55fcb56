#!/usr/bin/env bash
# Vendors the part of GitHub's REST API description that the fake forge is
# checked against (github.json), from the npm package @octokit/openapi,
# which publishes GitHub's own description (github/rest-api-description).
# Run from this directory; needs npm and go. Bump VERSION to update, run,
# then run the conformance test (go test ./gitops/forgetest -run Conform).
set -euo pipefail
VERSION=23.0.2
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@octokit/openapi@$VERSION" >/dev/null && tar xzf "octokit-openapi-$VERSION.tgz" package/generated/api.github.com.json)
# Every operation the GitHub client (gitops/github.go) calls.
go run subset.go -in "$tmp/package/generated/api.github.com.json" -out github.json \
  -source "npm @octokit/openapi@$VERSION generated/api.github.com.json" \
  "POST /repos/{owner}/{repo}/statuses/{sha}" \
  "GET /repos/{owner}/{repo}/commits/{ref}/statuses" \
  "GET /repos/{owner}/{repo}/pulls" \
  "POST /repos/{owner}/{repo}/pulls" \
  "GET /repos/{owner}/{repo}/pulls/{pull_number}" \
  "PATCH /repos/{owner}/{repo}/pulls/{pull_number}" \
  "GET /repos/{owner}/{repo}/issues" \
  "GET /repos/{owner}/{repo}/issues/{issue_number}" \
  "PATCH /repos/{owner}/{repo}/issues/{issue_number}" \
  "GET /repos/{owner}/{repo}/issues/{issue_number}/comments" \
  "POST /repos/{owner}/{repo}/issues/{issue_number}/comments" \
  "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}" \
  "GET /repos/{owner}/{repo}/commits/{commit_sha}/comments" \
  "POST /repos/{owner}/{repo}/commits/{commit_sha}/comments" \
  "PATCH /repos/{owner}/{repo}/comments/{comment_id}" \
  "GET /repos/{owner}/{repo}/milestones" \
  "POST /repos/{owner}/{repo}/milestones" \
  "PATCH /repos/{owner}/{repo}/milestones/{milestone_number}" \
  "GET /repos/{owner}/{repo}/releases/tags/{tag}" \
  "POST /repos/{owner}/{repo}/releases" \
  "PATCH /repos/{owner}/{repo}/releases/{release_id}"
