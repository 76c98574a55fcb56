package build_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/pipeline-ci/pipeline/stages/build/buildtest"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
)

// fixture is a git repository with a pipeline configuration built in Go.
type fixture struct {
	t    *testing.T
	repo string
	cfg  *config.Config
	log  *bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	repo := t.TempDir()
	gitIn(t, repo, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "README"), []byte("x\n"), 0o644)
	os.WriteFile(filepath.Join(repo, ".gitignore"), []byte("/store/\n/.pipeline/\n"), 0o644)
	gitIn(t, repo, "add", "-A")
	gitIn(t, repo, "commit", "-q", "-m", "first")
	cfg := config.Default()
	cfg.Project.Name = "appliance"
	cfg.Artifacts.URL = "file://" + filepath.Join(repo, "store")
	return &fixture{t: t, repo: repo, cfg: cfg, log: &bytes.Buffer{}}
}

// env is the stage's Env for a build of the fixture, with what the test
// wrote into the repository committed (a build refuses a dirty tree).
func (f *fixture) env(dryRun bool) *stages.Env {
	if t := f.t; t != nil {
		gitIn(t, f.repo, "add", "-A")
		if gitIn(t, f.repo, "status", "--porcelain") != "" {
			gitIn(t, f.repo, "commit", "-q", "-m", "test files")
		}
	}
	log, _ := logging.New(f.log, logging.Options{}, nil)
	return &stages.Env{
		Repo: f.repo, Config: f.cfg, Log: log, DryRun: dryRun,
		CI:     ci.Context{Provider: ci.Terminal, Env: ci.MapEnv{}},
		Report: &report.Dir{Path: filepath.Join(f.repo, ".pipeline", "reports")},
	}
}

func (f *fixture) makePackage(t *testing.T, dir string, p buildtest.Package) string {
	t.Helper()
	path, err := buildtest.MakePackage(filepath.Join(f.repo, dir), p)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func gitIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// A second version of a package in the build is refused: exit 1, naming
// both versions and files, and nothing is published.
func TestSecondVersionRefused(t *testing.T) {
	f := newFixture(t)
	f.makePackage(t, "debs", buildtest.Package{Format: "deb", Name: "appliance-agent", Version: "1.0-1"})
	f.makePackage(t, "debs", buildtest.Package{Format: "deb", Name: "appliance-agent", Version: "1.1-1"})
	f.cfg.Build.Components = []config.Component{{Name: "vendor", Prebuilt: "debs"}}
	res, err := build.New().Run(context.Background(), f.env(false))
	if errs.Code(err) != 1 || res.Outcome != stages.Failed {
		t.Fatalf("exit %d outcome %v err %v, want a failure (exit 1)", errs.Code(err), res.Outcome, err)
	}
	var dup *dist.DuplicateError
	if !errors.As(err, &dup) {
		t.Fatalf("error is not a DuplicateError: %v", err)
	}
	for _, want := range []string{"two versions of appliance-agent", "1.0-1", "1.1-1", "appliance-agent_1.1-1_all.deb", "component vendor"} {
		if !strings.Contains(errs.Format(err), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.repo, "store", "builds")); !os.IsNotExist(err) {
		t.Errorf("something was published after a refused lock: %v", err)
	}
}

// A dependency that no package of the build and nothing in the base
// distribution satisfies is reported, with the package that needs it.
func TestMissingDependencyReported(t *testing.T) {
	f := newFixture(t)
	f.makePackage(t, "debs", buildtest.Package{Format: "deb", Name: "appliance-agent", Version: "1.0-1",
		Depends: []string{"appliance-config (>= 1.0)", "libssl3 (>= 3.0)", "systemd"}})
	f.makePackage(t, "debs", buildtest.Package{Format: "deb", Name: "appliance-config", Version: "0.9-1"})
	f.cfg.Build.Components = []config.Component{{Name: "vendor", Prebuilt: "debs"}}
	f.cfg.Build.Base.Packages = []string{"systemd"}
	res, err := build.New().Run(context.Background(), f.env(false))
	if errs.Code(err) != 1 {
		t.Fatalf("exit %d, want 1: %v", errs.Code(err), err)
	}
	out := res.Data.(*build.Output)
	var got []string
	for _, u := range out.Unsatisfied {
		got = append(got, u.String())
	}
	want := "appliance-agent 1.0-1 all (deb) depends on appliance-config (>= 1.0)\nappliance-agent 1.0-1 all (deb) depends on libssl3 (>= 3.0)"
	if strings.Join(got, "\n") != want {
		t.Errorf("unsatisfied:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	if !strings.Contains(errs.Format(err), "libssl3 (>= 3.0)") || !strings.Contains(errs.Format(err), "build.base.packages") {
		t.Errorf("error does not name the dependency and the fix: %v", err)
	}
	// The lock was still written, to look at.
	if _, err := os.Stat(filepath.Join(f.repo, ".pipeline", "reports", "dist.lock")); err != nil {
		t.Errorf("no dist.lock in the report dir: %v", err)
	}
}

// A failing command stops the stage with the tail of its output; what
// comes after it is not built; its log is kept in the report dir.
func TestFailingComponentStopsTheBuild(t *testing.T) {
	f := newFixture(t)
	f.cfg.Build.Parallel = 2
	f.cfg.Build.Components = []config.Component{
		{Name: "base", Command: "echo compiling base; echo 'error: disk on fire' >&2; exit 3", Packages: []string{"out/*.deb"}},
		{Name: "app", Command: "touch app-was-built", Packages: []string{"out/*.deb"}, After: []string{"base"}},
	}
	res, err := build.New().Run(context.Background(), f.env(false))
	if errs.Code(err) != 1 {
		t.Fatalf("exit %d, want 1: %v", errs.Code(err), err)
	}
	for _, want := range []string{"component base", "exit status 3", "| error: disk on fire"} {
		if !strings.Contains(errs.Format(err), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := os.Stat(filepath.Join(f.repo, "app-was-built")); err == nil {
		t.Error("a component after the failed one was built")
	}
	out := res.Data.(*build.Output)
	if out.Components[1].Error == "" {
		t.Errorf("component app has no error: %+v", out.Components[1])
	}
	if !strings.Contains(f.log.String(), "$ echo compiling base") || !strings.Contains(f.log.String(), "→ base failed after") {
		t.Errorf("the job log does not show the command and its end:\n%s", f.log)
	}
	logFile, err := os.ReadFile(filepath.Join(f.repo, ".pipeline", "reports", "build", "base.log"))
	if err != nil || !strings.Contains(string(logFile), "disk on fire") {
		t.Errorf("base.log: %v %q", err, logFile)
	}
}

// Independent components run at the same time when parallel allows it.
func TestIndependentComponentsRunInParallel(t *testing.T) {
	f := newFixture(t)
	f.cfg.Build.Parallel = 2
	// Each waits (up to 10 s) for the other's marker: only a parallel run
	// finishes; a serial one times out.
	wait := func(me, other string) string {
		return "mkdir -p out && touch " + me + " && i=0; while [ ! -e " + other + " ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; [ -e " + other + " ]"
	}
	f.makePackage(t, "a", buildtest.Package{Format: "deb", Name: "a", Version: "1"})
	f.makePackage(t, "b", buildtest.Package{Format: "deb", Name: "b", Version: "1"})
	f.cfg.Build.Components = []config.Component{
		{Name: "a", Command: wait("a.started", "b.started"), Packages: []string{"a/*.deb"}},
		{Name: "b", Command: wait("b.started", "a.started"), Packages: []string{"b/*.deb"}},
	}
	if _, err := build.Build(context.Background(), f.env(false)); err != nil {
		t.Fatalf("parallel build: %v\n%s", err, f.log)
	}
}

// The same commit builds the same bytes: meta-packages, lock and the
// repositories' indexes; and the re-run re-uploads nothing.
func TestRebuildIsByteIdentical(t *testing.T) {
	ex := buildtest.BuildExample(t)
	first := snapshot(t, ex.Out)
	// Every component built again, not taken from the component cache.
	again := ex.Rebuild(t, "", buildtest.Options{Build: build.Options{Rebuild: []string{"all"}}})
	for _, c := range again.Out.Components {
		if c.Reused {
			t.Errorf("component %s reused despite --rebuild all", c.Name)
		}
	}
	second := snapshot(t, again.Out)
	if len(first) == 0 {
		t.Fatal("nothing to compare")
	}
	for name, sum := range first {
		if second[name] != sum {
			t.Errorf("%s differs between two builds of one commit: %s vs %s", name, sum, second[name])
		}
	}
	for _, m := range ex.Out.Metapackages {
		if !strings.Contains(strings.Join(keys(first), " "), m.File) {
			t.Errorf("meta-package %s not compared", m.File)
		}
	}
}

// snapshot hashes the lock, the meta-packages and every repository file.
func snapshot(t *testing.T, out *build.Output) map[string]string {
	t.Helper()
	sums := map[string]string{}
	filepath.Walk(out.Dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		s := sha256.Sum256(b)
		rel, _ := filepath.Rel(out.Dir, p)
		sums[rel] = hex.EncodeToString(s[:])
		return nil
	})
	return sums
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// --dry-run runs no command and writes nothing, and says what it would do.
func TestDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	f.cfg.Build.Components = []config.Component{{Name: "a", Command: "touch ran", Packages: []string{"*.deb"}}}
	res, err := build.New().Run(context.Background(), f.env(true))
	if err != nil || res.Outcome != stages.DryRunned {
		t.Fatalf("dry run: %v %v", res, err)
	}
	for _, p := range []string{"ran", "store", ".pipeline/build"} {
		if _, err := os.Stat(filepath.Join(f.repo, p)); err == nil {
			t.Errorf("dry run created %s", p)
		}
	}
	if !strings.Contains(f.log.String(), "would build component a: touch ran") {
		t.Errorf("log does not say what would be done:\n%s", f.log)
	}
}

// Snapshot versions come from git describe; a tag gives the release.
func TestSnapshotVersion(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"v1.2.0-5-gabc1234", "1.2.0+5.gabc1234"},
		{"v1.2.0-0-gabc1234", "1.2.0"},
		{"v2.0.0-rc.1-3-g0123456", "2.0.0-rc.1+3.g0123456"},
	} {
		got, _, err := build.SnapshotVersion(c.in, "v")
		if err != nil || got != c.want {
			t.Errorf("SnapshotVersion(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if build.CheckVersion("2.0.0-rc.1+3.g0123456") == nil {
		t.Error("a version with '-' must be refused (rpm cannot carry it)")
	}
	f := newFixture(t)
	gitIn(t, f.repo, "tag", "v1.4.0")
	gitIn(t, f.repo, "commit", "-q", "--allow-empty", "-m", "second")
	gitIn(t, f.repo, "commit", "-q", "--allow-empty", "-m", "third")
	sha := gitIn(t, f.repo, "rev-parse", "--short=7", "HEAD")
	f.cfg.Build.Components = []config.Component{{Name: "a", Command: "true", Packages: []string{"*.deb"}}}
	res, err := build.New().Run(context.Background(), f.env(true))
	if err != nil {
		t.Fatal(err)
	}
	rev := res.Data.(*build.Output).Revision
	if rev.Version != "1.4.0+2.g"+sha || rev.Release {
		t.Errorf("revision %+v, want snapshot 1.4.0+2.g%s", rev, sha)
	}
	if rev.Time.Unix() != 1767323045 {
		t.Errorf("SOURCE_DATE_EPOCH %d, want the commit time 1767323045", rev.Time.Unix())
	}
}

// Bad configuration is a usage error naming the key.
func TestConfigErrors(t *testing.T) {
	f := newFixture(t)
	f.cfg.Build.Components = []config.Component{
		{Name: "a", Command: "true"},
		{Name: "b", Prebuilt: "x", After: []string{"c"}},
		{Name: "c", Prebuilt: "x", After: []string{"b"}},
	}
	_, err := build.New().Run(context.Background(), f.env(false))
	if errs.Code(err) != 2 {
		t.Fatalf("exit %d, want 2: %v", errs.Code(err), err)
	}
	for _, want := range []string{"build.components[0].command", "no packages", "cycle: b → c → b"} {
		if !strings.Contains(errs.Format(err), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// The base distribution can be a Packages index (here gzipped, as a
// mirror serves it): its versions count for versioned dependencies.
func TestBaseFromPackagesIndex(t *testing.T) {
	f := newFixture(t)
	f.makePackage(t, "debs", buildtest.Package{Format: "deb", Name: "appliance-agent", Version: "1.0-1",
		Depends: []string{"libssl3 (>= 3.0)", "systemd (>= 252)"}})
	f.cfg.Build.Components = []config.Component{{Name: "vendor", Prebuilt: "debs"}}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("Package: libssl3\nVersion: 3.0.11-1~deb12u2\nArchitecture: amd64\n\nPackage: systemd\nVersion: 247.3-7\nArchitecture: amd64\n"))
	zw.Close()
	os.WriteFile(filepath.Join(f.repo, "Packages.gz"), gz.Bytes(), 0o644)
	f.cfg.Build.Base.Index = []string{"Packages.gz"}
	res, err := build.New().Run(context.Background(), f.env(false))
	if errs.Code(err) != 1 {
		t.Fatalf("exit %d, want 1 (systemd 247 is too old): %v", errs.Code(err), err)
	}
	u := res.Data.(*build.Output).Unsatisfied
	if len(u) != 1 || u[0].Depends != "systemd (>= 252)" {
		t.Errorf("unsatisfied: %+v, want only systemd (>= 252)", u)
	}
}

// When one component fails, the ones running beside it are stopped, with
// everything they started.
func TestFailureStopsRunningSiblings(t *testing.T) {
	f := newFixture(t)
	f.cfg.Build.Parallel = 2
	f.cfg.Build.Components = []config.Component{
		{Name: "slow", Command: "sh -c 'sleep 31.4159; touch slow-finished' & wait", Packages: []string{"*.deb"}},
		{Name: "broken", Command: "sleep 0.5; exit 1", Packages: []string{"*.deb"}},
	}
	start := time.Now()
	_, err := build.Build(context.Background(), f.env(false))
	if errs.Code(err) != 1 || !strings.Contains(errs.Format(err), "component broken") {
		t.Fatalf("want component broken's failure, got %v", err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the build took %s: the slow sibling was not stopped", took)
	}
	time.Sleep(500 * time.Millisecond)
	if out, err := exec.Command("pgrep", "-f", "sleep 31.4159").Output(); err == nil {
		t.Errorf("the sibling's child process kept running: pid %s", out)
	}
}

// In a shallow clone whose history stops short of the last release tag
// (GitLab clones 20 commits deep), the clone is deepened and the snapshot
// version still counts from that tag.
func TestShallowCloneIsDeepenedForTheVersion(t *testing.T) {
	origin := newFixture(t)
	origin.makePackage(t, "debs", buildtest.Package{Format: "deb", Name: "a", Version: "1"})
	origin.env(true) // commits it
	gitIn(t, origin.repo, "tag", "v1.4.0")
	for i := 0; i < 12; i++ {
		gitIn(t, origin.repo, "commit", "-q", "--allow-empty", "-m", fmt.Sprint("change ", i))
	}
	sha := gitIn(t, origin.repo, "rev-parse", "--short=7", "HEAD")
	clone := filepath.Join(t.TempDir(), "clone")
	gitIn(t, origin.repo, "clone", "-q", "--depth", "5", "file://"+origin.repo, clone)
	if gitIn(t, clone, "rev-parse", "--is-shallow-repository") != "true" {
		t.Fatal("the clone is not shallow")
	}
	f := &fixture{repo: clone, cfg: origin.cfg, log: &bytes.Buffer{}}
	f.cfg.Artifacts.URL = "file://" + filepath.Join(t.TempDir(), "store")
	f.cfg.Build.Components = []config.Component{{Name: "a", Prebuilt: "debs"}}

	// A dry run changes nothing, so it does not fetch: it says so.
	res, err := build.New().Run(context.Background(), f.env(true))
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Data.(*build.Output).Revision.Version; !strings.HasPrefix(v, "0.0.0+") || !strings.Contains(f.log.String(), "shallow clone") {
		t.Errorf("dry run: version %s, log:\n%s", v, f.log)
	}
	out, err := build.Build(context.Background(), f.env(false))
	if err != nil {
		t.Fatal(err)
	}
	if want := "1.4.0+12.g" + sha; out.Revision.Version != want {
		t.Errorf("version %s, want %s", out.Revision.Version, want)
	}
}

// The configuration example in docs/build.md is a valid build: section.
func TestDocsExampleIsValid(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(buildtest.ExampleDir(), "..", "..", "docs", "build.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\nbuild:\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/build.md has no ```yaml build: example")
	}
	p := filepath.Join(t.TempDir(), "pipeline.yaml")
	os.WriteFile(p, []byte("version: 1\nproject:\n  name: appliance\nbuild:\n"+block), 0o644)
	cfg, err := config.Load(p, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the docs example does not load: %v", err)
	}
	if len(cfg.Build.Components) != 3 || cfg.Build.Components[1].Timeout.D() != 20*time.Minute || cfg.Build.APT.Sign.KeyEnv != "APT_SIGNING_KEY" {
		t.Errorf("the docs example loaded as %+v", cfg.Build)
	}
}
