package e2e

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/testutil"
)

var updateDemo = flag.Bool("update-demo", false, "rewrite testdata/demo-summary/summary.golden")

// TestDemoSummary runs the demo's closing summary (scripts/demo-summary.sh)
// on the run summaries of a demo run and a scratch repository like the
// demo's, and checks it against a golden file: beside where things are,
// it gives the box catalog and the `vagrant box add` command of each
// provider, and the qcow2 image.
func TestDemoSummary(t *testing.T) {
	testutil.NeedTool(t, "git")
	testutil.NeedTool(t, "python3")
	work := t.TempDir()
	repo := filepath.Join(work, "appliance")
	app := filepath.Join(repo, "examples", "appliance")
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com", "GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
			"GIT_AUTHOR_DATE=2026-12-03T12:00:00Z", "GIT_COMMITTER_DATE=2026-12-03T12:00:00Z")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	os.MkdirAll(app, 0o755)
	git(work, "init", "-q", "-b", "master", repo)
	os.WriteFile(filepath.Join(repo, "README"), []byte("appliance\n"), 0o644)
	git(repo, "add", "-A")
	git(repo, "commit", "-q", "-m", "feat: the appliance, version 1.0.0")
	git(repo, "tag", "-a", "v1.0.0", "-m", "appliance 1.0.0")
	git(work, "init", "-q", "--bare", "-b", "master", filepath.Join(work, "origin.git"))
	git(repo, "remote", "add", "origin", filepath.Join(work, "origin.git"))
	git(repo, "commit", "-q", "--allow-empty", "-m", "feat(agent): status reports the polling interval")
	culprit := git(repo, "commit-tree", "-m", "fix(agent): enable the service from postinst only on upgrade", "HEAD^{tree}", "-p", "HEAD")
	os.WriteFile(filepath.Join(repo, "CHANGELOG.md"), []byte("## 1.1.0 (2026-12-03)\n\n### Features\n\n- agent: status reports the polling interval\n"), 0o644)
	git(repo, "add", "-A")
	git(repo, "commit", "-q", "-m", "chore(release): 1.1.0")
	git(repo, "tag", "-a", "v1.1.0", "-m", "appliance 1.1.0")
	git(repo, "push", "-q", "origin", "master", "v1.0.0", "v1.1.0")
	for _, name := range []string{"run.json", "release.json", "release-tag.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "demo-summary", name))
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.NewReplacer("@WORK@", work, "@CULPRIT@", culprit).Replace(string(data)))
		os.WriteFile(filepath.Join(work, name), data, 0o644)
	}

	cmd := exec.Command("bash", filepath.Join(repoRoot(), "scripts", "demo-summary.sh"), work, app, repo)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo-summary.sh: %v\n%s", err, out)
	}
	got := strings.ReplaceAll(string(out), work, "$WORK")
	got = regexp.MustCompile(`\b[0-9a-f]{7,40}\b`).ReplaceAllString(got, "HASH")
	golden := filepath.Join("testdata", "demo-summary", "summary.golden")
	if *updateDemo {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (-update-demo writes it)", err)
	}
	if got != string(want) {
		t.Errorf("the demo summary differs from %s (-update-demo rewrites it):\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
	for _, want := range []string{
		"vagrant box add --provider libvirt file://$WORK/appliance/examples/appliance/.pipeline/artifacts/template/appliance-dev/catalog.json",
		"vagrant box add --provider virtualbox ",
		"/dev.qcow2",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the summary lacks %q", want)
		}
	}
}
