package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// The production version is the newest release tag reachable from HEAD
// older than the version under test; a shallow clone (GitLab's depth) is
// deepened until the tag is in its history; a tag on another branch is not
// production.
func TestLastReleaseFromTags(t *testing.T) {
	origin := t.TempDir()
	git(t, origin, "init", "-q", "-b", "master")
	commit := func(msg string) { git(t, origin, "commit", "-q", "--allow-empty", "-m", msg) }
	commit("one")
	git(t, origin, "tag", "v1.0.0")
	commit("two")
	git(t, origin, "tag", "v1.1.0")
	for i := 0; i < 5; i++ {
		commit("work")
	}
	git(t, origin, "checkout", "-q", "-b", "other")
	commit("elsewhere")
	git(t, origin, "tag", "v9.0.0")
	git(t, origin, "checkout", "-q", "master")
	ctx := context.Background()

	for _, tc := range []struct{ underTest, want string }{
		{"1.1.0+5.gabc", "1.1.0"},
		{"1.1.0", "1.0.0"},
		{"", "1.1.0"},
	} {
		got, err := lastRelease(ctx, origin, "v", tc.underTest)
		if err != nil || got != tc.want {
			t.Errorf("lastRelease(under test %q) = %q, %v; want %q", tc.underTest, got, err, tc.want)
		}
	}

	clone := filepath.Join(t.TempDir(), "clone")
	git(t, t.TempDir(), "clone", "-q", "--depth", "1", "--branch", "master", "file://"+origin, clone)
	got, err := lastRelease(ctx, clone, "v", "1.1.0+5.gabc")
	if err != nil || got != "1.1.0" {
		t.Errorf("shallow clone: %q, %v; want 1.1.0 after deepening", got, err)
	}

	if _, err := lastRelease(ctx, origin, "v", "0.9.0"); errs.KindOf(err) != errs.Usage ||
		!strings.Contains(errs.Format(err), "no release tag v<semver> older than 0.9.0") || !strings.Contains(errs.Format(err), "integration.production.version") {
		t.Errorf("no release before: %v", err)
	}
}

func TestNeedsProduction(t *testing.T) {
	both := []config.IntegrationTarget{{Name: "a"}}
	fresh := []config.IntegrationTarget{{Name: "a", Scenarios: []string{"fresh"}}}
	for _, tc := range []struct {
		cfg     config.Integration
		targets []config.IntegrationTarget
		want    bool
	}{
		{config.Integration{}, both, true}, // previous empty: last release by default
		{config.Integration{Previous: "1.0.0"}, both, false},
		{config.Integration{Production: config.IntegrationProduction{Version: "1.0.0"}}, both, true},
		{config.Integration{}, fresh, false}, // no upgrade scenario: no production needed
	} {
		if got := needsProduction(&tc.cfg, tc.targets); got != tc.want {
			t.Errorf("needsProduction(%+v, %+v) = %v, want %v", tc.cfg, tc.targets, got, tc.want)
		}
	}
}
