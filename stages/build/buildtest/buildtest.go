// Package buildtest builds and publishes the example appliance
// (examples/appliance) for tests of later stages that need a real APT/YUM
// repository with a real pinned meta-package:
//
//	ex := buildtest.BuildExample(t)            // v1.0.0, file:// store in t.TempDir()
//	ex.Out.APT.Source                          // "deb [trusted=yes] file:///…/apt stable main"
//	ex.Out.Lock.Packages                       // the locked packages
//	ex.Metapackage()                           // "appliance=1.0.0" (for apt-get install)
//
//	buildtest.BumpComponent(t, ex.Repo, "appliance-agent", "1.1.0")
//	ex2 := ex.Rebuild(t, "v1.1.0")             // same store, new build: the upgrade
//
// It needs git, make, dpkg-deb and rpmbuild (and createrepo_c for YUM);
// a missing one skips (or under CI fails) the test through testutil.NeedTool.
package buildtest

import (
	"context"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build"
)

// Example is a built and published copy of examples/appliance.
type Example struct {
	// Repo is the git repository the example was copied into.
	Repo string
	// Store is the file:// artifact store directory the build published to.
	Store string
	// Config is the configuration the build ran with.
	Config *config.Config
	// Out is the build's result: revision, lock, meta-packages, APT/YUM
	// repositories (local dirs and published URLs), artifacts.
	Out *build.Output
}

// Options change BuildExample.
type Options struct {
	// Tag is the release tag put on the commit ("v1.0.0" by default; ""
	// with Snapshot for a snapshot build).
	Tag string
	// Snapshot leaves the commit untagged: the version is 0.0.0+1.g<sha>.
	Snapshot bool
	// SigningKey is an armored private key to sign the APT Release with.
	SigningKey string
	// Env is extra environment for the build (lookups only): S3
	// credentials, SOURCE_DATE_EPOCH.
	Env map[string]string
	// Build are the build's options: --rebuild, --allow-dirty, a store.
	Build build.Options
	// Log receives the build's log (text format).
	Log io.Writer
	// Artifacts replaces the file:// store in a temporary directory (an
	// s3:// store on a miniotest server, say).
	Artifacts *config.Artifacts
}

// ExampleDir is examples/appliance in this source tree.
func ExampleDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", "appliance")
}

// BuildExample copies the example appliance into a new git repository,
// commits and tags it, and runs the build stage with a file:// store in a
// temporary directory.
func BuildExample(t testing.TB, opts ...Options) *Example {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Tag == "" && !o.Snapshot {
		o.Tag = "v1.0.0"
	}
	for _, tool := range []string{"git", "make", "dpkg-deb", "rpmbuild", "createrepo_c"} {
		testutil.NeedTool(t, tool)
	}
	dir := t.TempDir()
	repo := filepath.Join(dir, "appliance")
	if err := copyTree(ExampleDir(), repo); err != nil {
		t.Fatalf("copy the example: %v", err)
	}
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "add", "-A")
	git(t, repo, "commit", "-q", "-m", "appliance")
	if o.Tag != "" {
		git(t, repo, "tag", o.Tag)
	}
	ex := &Example{Repo: repo, Store: filepath.Join(dir, "store")}
	ex.Out = ex.run(t, o)
	return ex
}

// Rebuild commits whatever changed in the repository (an hour after the
// commit before), tags the commit with tag (unless empty) and builds again
// into the same store.
func (ex *Example) Rebuild(t testing.TB, tag string, opts ...Options) *Example {
	t.Helper()
	next, err := ex.TryRebuild(t, tag, opts...)
	if err != nil {
		t.Fatalf("build the example appliance: %v", err)
	}
	return next
}

// TryRebuild is Rebuild for a build that may fail: the error is returned,
// with what the build did so far in the Example's Out.
func (ex *Example) TryRebuild(t testing.TB, tag string, opts ...Options) (*Example, error) {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	Commit(t, ex.Repo, "rebuild "+tag)
	if tag != "" {
		git(t, ex.Repo, "tag", tag)
	}
	next := &Example{Repo: ex.Repo, Store: ex.Store}
	var err error
	next.Out, err = next.try(t, o)
	return next, err
}

// Commit commits whatever changed in the repository, an hour after the
// commit before (so each commit has its own time), and returns its sha;
// the current one when nothing changed.
func Commit(t testing.TB, repo, msg string) string {
	t.Helper()
	git(t, repo, "add", "-A")
	if out := git(t, repo, "status", "--porcelain"); out != "" {
		last, err := strconv.ParseInt(git(t, repo, "log", "-1", "--format=%ct"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		date := time.Unix(last+3600, 0).UTC().Format(time.RFC3339)
		gitEnv(t, repo, []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}, "commit", "-q", "-m", msg)
	}
	return git(t, repo, "rev-parse", "HEAD")
}

// BumpComponent sets a component's VERSION file (examples use
// components/<name>/VERSION), to make a second build differ.
func BumpComponent(t testing.TB, repo, component, version string) {
	t.Helper()
	p := filepath.Join(repo, "components", component, "VERSION")
	if err := os.WriteFile(p, []byte(version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Build builds the repository as it is, committed or not, into the
// example's store.
func (ex *Example) Build(t testing.TB, opts ...Options) (*build.Output, error) {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	return ex.try(t, o)
}

// Metapackage is the meta-package as apt-get install takes it: name=version.
func (ex *Example) Metapackage() string {
	return ex.Out.Metapackage + "=" + ex.Out.Revision.Version
}

func (ex *Example) run(t testing.TB, o Options) *build.Output {
	t.Helper()
	out, err := ex.try(t, o)
	if err != nil {
		t.Fatalf("build the example appliance: %v", err)
	}
	return out
}

func (ex *Example) try(t testing.TB, o Options) (*build.Output, error) {
	t.Helper()
	cfg, err := LoadConfig(filepath.Join(ex.Repo, config.FileName))
	if err != nil {
		t.Fatalf("example pipeline.yaml: %v", err)
	}
	cfg.Artifacts.URL = "file://" + ex.Store
	if o.Artifacts != nil {
		cfg.Artifacts = *o.Artifacts
	}
	vars := ci.MapEnv{}
	for k, v := range o.Env {
		vars[k] = v
	}
	if o.SigningKey != "" {
		vars["APPLIANCE_APT_KEY"] = o.SigningKey
		cfg.Build.APT.Sign = config.APTSign{KeyEnv: "APPLIANCE_APT_KEY"}
	}
	ex.Config = cfg
	env := &stages.Env{
		Repo:   ex.Repo,
		Config: cfg,
		CI:     ci.Context{Provider: ci.Terminal, Env: vars},
		Log:    logging.Discard(),
		Report: &report.Dir{Path: filepath.Join(ex.Repo, ".pipeline", "reports")},
	}
	if o.Log != nil {
		if l, err := logging.New(o.Log, logging.Options{}, nil); err == nil {
			env.Log = l
		}
	} else if testing.Verbose() {
		if l, err := logging.New(testWriter{t}, logging.Options{}, nil); err == nil {
			env.Log = l
		}
	}
	return build.BuildWith(context.Background(), env, o.Build)
}

// LoadConfig reads an example pipeline.yaml with no environment.
func LoadConfig(path string) (*config.Config, error) {
	return config.Load(path, func(string) (string, bool) { return "", false })
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	return gitEnv(t, dir, nil, args...)
}

func gitEnv(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME=Appliance Dev", "GIT_AUTHOR_EMAIL=dev@appliance.example",
		"GIT_COMMITTER_NAME=Appliance Dev", "GIT_COMMITTER_EMAIL=dev@appliance.example",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// copyTree copies the example, leaving out build products and local state.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (d.Name() == "build" || d.Name() == "dist" || d.Name() == ".pipeline") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
