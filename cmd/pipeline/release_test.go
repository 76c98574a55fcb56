package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// releaseRepo is a git repo with v1.0.0 and a feature after it.
func releaseRepo(t *testing.T) string {
	testutil.NeedTool(t, "git")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=main"},
		{"-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "--quiet", "--allow-empty", "-m", "feat: one"},
		{"-c", "user.name=A", "-c", "user.email=a@example.com", "tag", "-a", "-m", "one", "v1.0.0"},
		{"-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "--quiet", "--allow-empty", "-m", "feat: two ✨"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	return dir
}

func runRelease(t *testing.T, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	a := newApp(&out, &errb, ci.MapEnv{})
	code := a.execute(context.Background(), args)
	return code, out.String(), errb.String()
}

func TestReleaseCommand(t *testing.T) {
	dir := releaseRepo(t)
	if code, _, stderr := runRelease(t, "--repo", dir, "release", "--bump", "huge"); code != 2 || !strings.Contains(stderr, "major, minor or patch") {
		t.Errorf("--bump huge: exit %d, %s", code, stderr)
	}
	if code, _, stderr := runRelease(t, "--repo", dir, "release", "--version", "0.9.0"); code != 2 || !strings.Contains(stderr, "not above the last release") {
		t.Errorf("--version 0.9.0: exit %d, %s", code, stderr)
	}
	code, stdout, stderr := runRelease(t, "--repo", dir, "--json", "--dry-run", "release", "--pre", "rc")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, stderr)
	}
	var doc struct {
		Results []struct {
			Outcome string `json:"outcome"`
			Data    struct {
				Version, Previous, Bump, Notes string
				Actions                        []map[string]any
			} `json:"data"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("--json: %v\n%s", err, stdout)
	}
	if len(doc.Results) != 1 || doc.Results[0].Outcome != "dry-run" || doc.Results[0].Data.Version != "1.1.0-rc.1" ||
		doc.Results[0].Data.Previous != "1.0.0" || !strings.Contains(doc.Results[0].Data.Notes, "two ✨") || len(doc.Results[0].Data.Actions) == 0 {
		t.Errorf("--json document: %s", stdout)
	}
	code, stdout, _ = runRelease(t, "--repo", dir, "--json", "release", "changelog")
	var cl struct{ Output string }
	if code != 0 || json.Unmarshal([]byte(stdout), &cl) != nil || !strings.Contains(cl.Output, "## [1.0.0]") {
		t.Errorf("release changelog --json: exit %d: %s", code, stdout)
	}
}
