// Package e2e drives the real pipeline binary through whole scenarios on
// real git repositories, the way a team meets it: a week of work on
// staging promoted and released against a fake GitLab (gitops/forgetest
// served over HTTP), re-runs that must change nothing, --dry-run that must
// change nothing, the errors a newcomer hits, the project's CI files run by
// gitlab-ci-local, and the binary under Jenkins' environment.
//
// TestMain builds the binary once (go build ./cmd/pipeline) and puts it on
// PATH, so the scripts, gitlab-ci-local's shell executor and every child
// process run the very program a user installs.
package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/rogpeppe/go-internal/testscript"
)

// binDir holds the pipeline binary built by TestMain.
var binDir string

// Token is the api-scope token the fake forge accepts; JobToken is a
// CI_JOB_TOKEN, which (as on GitLab) may only use the releases API.
const (
	Token    = "glpat-e2e-api-token"
	JobToken = "glcbt-e2e-job-token"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pipeline-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	binDir = dir
	os.Chmod(dir, 0o755) // a script runs it as nobody too
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "pipeline"), "./cmd/pipeline")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/pipeline: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(3)
	}
	code := m.Run()
	miniotest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the top of this source tree.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// params are the testscript settings shared by every script directory.
func params(dir string) testscript.Params {
	return testscript.Params{
		Dir: dir,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("SRC", repoRoot())
			env.Setenv("BINDIR", binDir)
			env.Setenv("GIT_AUTHOR_NAME", "Dev")
			env.Setenv("GIT_AUTHOR_EMAIL", "dev@example.com")
			env.Setenv("GIT_COMMITTER_NAME", "Dev")
			env.Setenv("GIT_COMMITTER_EMAIL", "dev@example.com")
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("NO_COLOR", "1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":    cmdExits,
			"forge":    cmdForge,
			"snapshot": cmdSnapshot,
			"tinydisk": cmdTinyDisk,
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		RequireExplicitExec: true,
	}
}

// TestScripts runs testdata/script/*.txtar: the week of work, re-runs,
// dry runs, newcomers' errors, Jenkins' environment.
func TestScripts(t *testing.T) {
	testutil.NeedTool(t, "git")
	testscript.Run(t, params("testdata/script"))
}

// cmdExits: exits N PROG ARGS... runs PROG and requires exit code N.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N PROG ARGS...")
	}
	var want int
	if _, err := fmt.Sscan(args[0], &want); err != nil {
		ts.Fatalf("exits: %v", err)
	}
	err := ts.Exec(args[1], args[2:]...)
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// servers are the fake forges started by scripts, one per script.
var servers sync.Map // *testscript.TestScript → *forgetest.Server

// cmdForge manages the script's fake GitLab (project 42, appliance/os):
//
//	forge start                   start it; sets FORGE_URL (its /api/v4),
//	                              PIPELINE_TOKEN (api scope), JOB_TOKEN
//	forge milestone TITLE         an active milestone
//	forge mr TITLE BRANCH SHA     an MR merged into BRANCH as commit SHA
//	forge open-mr SOURCE TARGET   an open MR from SOURCE into TARGET
//	forge merge-release-mr        the open release MR is merged (state only)
//	forge dump FILE               the project's whole state as JSON
func cmdForge(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: forge start|milestone|mr|merge-release-mr|dump ...")
	}
	if args[0] == "start" {
		srv := forgetest.New(nil, Token)
		srv.AddJobToken(JobToken)
		srv.GitLab().AddProject(42, "appliance/os")
		servers.Store(ts, srv)
		ts.Defer(func() { srv.Close(); servers.Delete(ts) })
		ts.Setenv("FORGE_URL", srv.GitLabURL())
		ts.Setenv("PIPELINE_TOKEN", Token)
		ts.Setenv("JOB_TOKEN", JobToken)
		return
	}
	v, ok := servers.Load(ts)
	if !ok {
		ts.Fatalf("forge %s: no forge started (forge start)", args[0])
	}
	gl := v.(*forgetest.Server).GitLab()
	switch args[0] {
	case "milestone":
		gl.AddMilestone("42", strings.Join(args[1:], " "), "active")
	case "mr":
		if len(args) != 4 {
			ts.Fatalf("usage: forge mr TITLE BRANCH SHA")
		}
		sha := strings.TrimSpace(ts.ReadFile(args[3]))
		gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: args[1], SourceBranch: "mr-" + sha[:7],
			TargetBranch: args[2], State: "merged", MergeCommitSHA: &sha})
	case "open-mr":
		if len(args) != 3 {
			ts.Fatalf("usage: forge open-mr SOURCE TARGET")
		}
		gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "Draft: " + args[1], SourceBranch: args[1],
			TargetBranch: args[2], State: "opened"})
	case "merge-release-mr":
		n := 0
		gl.Do("42", func(p *forgetest.GLProject) {
			for _, mr := range p.MRs {
				if mr.State == "opened" && strings.HasPrefix(mr.SourceBranch, "pipeline-release/") {
					mr.State = "merged"
					n++
				}
			}
		})
		if n != 1 {
			ts.Fatalf("forge merge-release-mr: %d open release MRs, want 1", n)
		}
	case "dump":
		if len(args) != 2 {
			ts.Fatalf("usage: forge dump FILE")
		}
		var data []byte
		var err error
		gl.Do("42", func(p *forgetest.GLProject) { data, err = json.MarshalIndent(p, "", "  ") })
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), data, 0o644))
	default:
		ts.Fatalf("forge: unknown subcommand %q", args[0])
	}
}

// cmdSnapshot: snapshot [-git] FILE PATH... writes what a command could
// change into FILE, for cmp before and after: for every PATH, its git refs
// (with their targets), the work tree's status and every file (outside
// .git) with its sha256; then the fake forge's whole state, when one runs
// (not with -git).
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	withForge := true
	if len(args) > 0 && args[0] == "-git" {
		withForge, args = false, args[1:]
	}
	if neg || len(args) < 2 {
		ts.Fatalf("usage: snapshot [-git] FILE PATH...")
	}
	var b strings.Builder
	for _, p := range args[1:] {
		dir := ts.MkAbs(p)
		fmt.Fprintf(&b, "== %s\n", p)
		if out, err := git(dir, "for-each-ref", "--format=%(refname) %(objectname)"); err == nil {
			b.WriteString(out)
			st, _ := git(dir, "status", "--porcelain=v1", "--ignored=no")
			fmt.Fprintf(&b, "-- status\n%s", st)
			head, _ := git(dir, "rev-parse", "HEAD")
			fmt.Fprintf(&b, "-- HEAD %s", head)
		}
		fmt.Fprintf(&b, "-- files\n")
		ts.Check(listFiles(&b, dir))
	}
	if v, ok := servers.Load(ts); ok && withForge {
		var data []byte
		var err error
		v.(*forgetest.Server).GitLab().Do("42", func(p *forgetest.GLProject) { data, err = json.MarshalIndent(p, "", "  ") })
		ts.Check(err)
		fmt.Fprintf(&b, "== forge\n%s\n", data)
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(b.String()), 0o644))
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return string(out), err
}

// listFiles writes "path sha256" for every regular file under dir (and
// "path -> target" for links), skipping the .git directories.
func listFiles(b *strings.Builder, dir string) error {
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" && path != dir {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(path)
			lines = append(lines, rel+" -> "+target)
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			lines = append(lines, rel+" "+hex.EncodeToString(sum[:8]))
		}
		return nil
	})
	sort.Strings(lines)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	return err
}

// gitlabCILocal is the pinned gitlab-ci-local that scripts/deps/e2e.sh
// installs (a global one may be a version that needs another Node).
const gitlabCILocal = "/var/tmp/pipeline-tools/gitlab-ci-local-4.64.1/node_modules/.bin/gitlab-ci-local"

// TestGitLabCI runs testdata/gitlab/*.txtar: .gitlab-ci.yml files run by
// gitlab-ci-local with the shell executor ($GITLAB_CI_LOCAL).
func TestGitLabCI(t *testing.T) {
	testutil.NeedTool(t, "git")
	testutil.NeedTool(t, "rsync")
	gcl := gitlabCILocal
	if _, err := os.Stat(gcl); err != nil {
		testutil.NeedTool(t, gcl) // fails under CI, skips locally: run scripts/deps/e2e.sh
	}
	p := params("testdata/gitlab")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		env.Setenv("GITLAB_CI_LOCAL", gcl) // not GCL: gitlab-ci-local reads GCL_* as its options
		// The jobs build Go: share this machine's module and build caches.
		for _, k := range []string{"GOPATH", "GOCACHE", "GOMODCACHE"} {
			out, err := exec.Command("go", "env", k).Output()
			if err != nil {
				return err
			}
			env.Setenv(k, strings.TrimSpace(string(out)))
		}
		return setup(env)
	}
	testscript.Run(t, p)
}

// cmdTinyDisk: tinydisk DIR SIZE mounts a tmpfs of SIZE on DIR (root only),
// unmounted when the script ends: a disk that fills up for real.
func cmdTinyDisk(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tinydisk DIR SIZE")
	}
	dir := ts.MkAbs(args[0])
	ts.Check(os.MkdirAll(dir, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+args[1], "tmpfs", dir).CombinedOutput(); err != nil {
		ts.Fatalf("mount a tmpfs on %s: %v %s", dir, err, out)
	}
	ts.Defer(func() { exec.Command("umount", "-l", dir).Run() })
}
