package release

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	rel "github.com/pipeline-ci/pipeline/release"
	"github.com/pipeline-ci/pipeline/stages"
)

func TestFirstReleaseDirect(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("Initial import")
	r.commit("feat: boot the appliance")
	r.push()
	// Through the runner, which writes the dotenv report.
	env := r.env(nil, nil)
	res, err := stages.RunOne(context.Background(), env, New(Options{Now: fixedNow}))
	if err != nil {
		t.Fatal(err)
	}
	d := res.Data.(*Data)
	if res.Outcome != stages.Passed || d.Version != "0.1.0" || d.Previous != "" || d.Tag != "v0.1.0" {
		t.Fatalf("result %+v data %+v", res, d)
	}
	dotenv, _ := os.ReadFile(filepath.Join(env.Report.Path, "pipeline.env"))
	if !strings.Contains(string(dotenv), "PIPELINE_VERSION=0.1.0\n") || !strings.Contains(string(dotenv), "PIPELINE_PREVIOUS_VERSION=\n") {
		t.Errorf("pipeline.env:\n%s", dotenv)
	}
	if res.Dotenv["PIPELINE_VERSION"] != "0.1.0" || res.Dotenv["PIPELINE_PREVIOUS_VERSION"] != "" {
		t.Errorf("dotenv %v", res.Dotenv)
	}
	// Tagged at the release commit, which is pushed, both on origin.
	if got := r.run("log", "-1", "--format=%s", "v0.1.0"); got != "chore(release): 0.1.0" {
		t.Errorf("tag points at %q", got)
	}
	if got := r.tags(true); len(got) != 1 || got[0] != "v0.1.0" {
		t.Errorf("remote tags %v", got)
	}
	if r.git(r.remote, "rev-parse", "main") != r.head() {
		t.Error("release commit not pushed to main")
	}
	cl := r.read("CHANGELOG.md")
	if !strings.HasPrefix(cl, rel.ChangelogHeader) || count(cl, "## [0.1.0]") != 1 || !strings.Contains(cl, "- boot the appliance") || !strings.Contains(cl, "- Initial import") {
		t.Errorf("CHANGELOG.md:\n%s", cl)
	}
	// The forge actions are listed as skipped.
	for _, a := range d.Actions {
		if a.Step == StepForgeRelease && a.Status != "skipped" {
			t.Errorf("forge release with no forge: %+v", a)
		}
	}
	// Run again: nothing to do, nothing written.
	head := r.head()
	res, d = r.mustRelease(r.env(nil, nil), Options{})
	if res.Outcome != stages.NoChange || d.Releasable || r.head() != head || len(r.tags(false)) != 1 {
		t.Errorf("second run: %+v %+v", res, d)
	}
	if res.Dotenv != nil {
		t.Errorf("nothing to release wrote dotenv %v", res.Dotenv)
	}
}

func TestNothingReleasable(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: first")
	r.tag("v1.0.0")
	r.commit("docs: typo")
	r.commit("chore(deps): bump")
	r.commit("Merge the docs")
	r.push()
	head := r.head()
	res, d := r.mustRelease(r.env(nil, nil), Options{})
	if res.Outcome != stages.NoChange || d.Releasable {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(res.Summary, "nothing to release") || !strings.Contains(d.Reason, "3 change(s) since v1.0.0") {
		t.Errorf("summary %q reason %q", res.Summary, d.Reason)
	}
	// Every change is listed as "other", none dropped.
	if len(d.Changes) != 3 || d.Counts["other"] != 3 {
		t.Errorf("changes %+v", d.Changes)
	}
	if r.head() != head || r.run("status", "--porcelain") != "" || len(r.tags(false)) != 1 {
		t.Error("nothing to release changed the repository")
	}
	// --bump makes it a release anyway.
	_, d = r.mustRelease(r.env(nil, nil), Options{Bump: "patch"})
	if d.Version != "1.0.1" || !strings.Contains(d.Reason, "--bump patch") {
		t.Errorf("--bump patch: %s %q", d.Version, d.Reason)
	}
}

func TestBrokenTagsAreIgnored(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: a")
	r.tag("v1.0.0")
	r.commit("fix: b")
	r.tag("v1.1")   // not semver
	r.tag("latest") // not a version
	r.tag("v2.0.0.1")
	r.push()
	_, d := r.mustRelease(r.env(nil, nil), Options{})
	if d.Version != "1.0.1" || d.PreviousTag != "v1.0.0" {
		t.Errorf("version %s after %s", d.Version, d.PreviousTag)
	}
	if strings.Join(d.IgnoredTags, " ") != "latest v1.1 v2.0.0.1" {
		t.Errorf("ignored %v", d.IgnoredTags)
	}
}

func TestPreReleaseSequence(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: a")
	r.tag("v1.3.0")
	r.commit("feat: b")
	r.push()
	_, d := r.mustRelease(r.env(nil, nil), Options{Pre: "rc"})
	if d.Version != "1.4.0-rc.1" {
		t.Fatalf("first rc: %s", d.Version)
	}
	// Nothing new: no rc.2.
	res, _ := r.mustRelease(r.env(nil, nil), Options{Pre: "rc"})
	if res.Outcome != stages.NoChange {
		t.Fatalf("rc without a change: %+v", res)
	}
	r.commit("fix: c")
	_, d = r.mustRelease(r.env(nil, nil), Options{Pre: "rc"})
	if d.Version != "1.4.0-rc.2" || d.PreviousTag != "v1.4.0-rc.1" || len(d.Changes) != 1 {
		t.Fatalf("rc.2: %s after %s, %d changes", d.Version, d.PreviousTag, len(d.Changes))
	}
	// The final release: everything since 1.3.0, no new commit needed.
	_, d = r.mustRelease(r.env(nil, nil), Options{})
	if d.Version != "1.4.0" || d.PreviousTag != "v1.3.0" || d.Counts["feature"] != 1 || d.Counts["fix"] != 1 {
		t.Fatalf("final: %s after %s, %v", d.Version, d.PreviousTag, d.Counts)
	}
	cl := r.read("CHANGELOG.md")
	for _, v := range []string{"1.4.0-rc.1", "1.4.0-rc.2", "1.4.0"} {
		if count(cl, "## ["+v+"]") != 1 {
			t.Errorf("CHANGELOG has %d entries for %s", count(cl, "## ["+v+"]"), v)
		}
	}
	if got := strings.Join(r.tags(true), " "); got != "v1.3.0 v1.4.0 v1.4.0-rc.1 v1.4.0-rc.2" {
		t.Errorf("remote tags %s", got)
	}
}

func TestMaintenanceBranch(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: a")
	r.tag("v1.3.0")
	r.run("branch", "release/1.3")
	r.commit("feat: b")
	r.tag("v1.4.0")
	r.commit("feat!: c")
	r.tag("v2.0.0")
	r.push()
	r.run("checkout", "--quiet", "release/1.3")
	r.commit("fix: backport d")
	r.commit("feat: backported feature e")
	r.run("push", "--quiet", "origin", "release/1.3")
	env := r.env(nil, nil)
	// A minor bump is not allowed on the line.
	if _, _, err := r.release(env, Options{Bump: "minor"}); errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "maintenance line 1.3.x") {
		t.Fatalf("--bump minor on release/1.3: %v", err)
	}
	_, d := r.mustRelease(env, Options{})
	if d.Version != "1.3.1" || d.PreviousTag != "v1.3.0" || !strings.Contains(d.Reason, "capped to patch") {
		t.Fatalf("maintenance: %s after %s (%s)", d.Version, d.PreviousTag, d.Reason)
	}
	if r.git(r.remote, "rev-parse", "release/1.3") != r.head() || r.git(r.remote, "rev-parse", "main") == r.head() {
		t.Error("release commit not pushed to release/1.3 only")
	}
	// main goes on from 2.0.0, ignoring 1.3.1.
	r.run("checkout", "--quiet", "main")
	r.commit("fix: f")
	_, d = r.mustRelease(r.env(nil, nil), Options{})
	if d.Version != "2.0.1" {
		t.Errorf("main after a maintenance release: %s", d.Version)
	}
}

func TestShallowClone(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("chore: start")
	r.bulk("chore: old", 300)
	r.tag("v1.2.0")
	r.bulk("chore: filler", 140)
	r.commit("feat: new thing")
	r.push()
	// A CI clone: depth 5, tags fetched but their history cut off.
	clone := filepath.Join(t.TempDir(), "clone")
	r.git(filepath.Dir(clone), "clone", "--quiet", "--depth=5", "--no-single-branch", "file://"+r.remote, clone)
	c := &repo{t: t, dir: clone, remote: r.remote, n: 100}
	c.run("config", "user.name", "CI")
	c.run("config", "user.email", "ci@example.com")
	c.run("fetch", "--quiet", "--tags", "--depth=1", "origin")
	if c.run("rev-parse", "--is-shallow-repository") != "true" {
		t.Fatal("setup: clone is not shallow")
	}
	_, d := c.mustRelease(c.env(nil, nil), Options{})
	if d.Version != "1.3.0" || d.PreviousTag != "v1.2.0" || len(d.Changes) != 141 {
		t.Fatalf("shallow: %s after %s with %d changes, want 1.3.0 after v1.2.0 with 141", d.Version, d.PreviousTag, len(d.Changes))
	}
	// Deepened only as far as the tag: the history before it is not fetched.
	if c.run("rev-parse", "--is-shallow-repository") != "true" {
		t.Error("the clone was unshallowed: the walk must stop at the last tag")
	}
}

// A shallow CI clone without any tag: the remote's tags are used, and only
// the one needed is fetched.
func TestShallowCloneWithoutTags(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: start")
	r.tag("v2.0.0")
	r.bulk("chore: filler", 60)
	r.commit("fix: late")
	r.push()
	clone := filepath.Join(t.TempDir(), "clone")
	r.git(filepath.Dir(clone), "clone", "--quiet", "--depth=3", "--no-tags", "file://"+r.remote, clone)
	c := &repo{t: t, dir: clone, remote: r.remote, n: 100}
	if len(c.tags(false)) != 0 {
		t.Fatal("setup: the clone has tags")
	}
	env := c.env(nil, nil)
	env.DryRun = true
	_, d := c.mustRelease(env, Options{})
	if d.Version != "2.0.1" || d.PreviousTag != "v2.0.0" || len(d.Changes) != 61 {
		t.Fatalf("%s after %s with %d changes, want 2.0.1 after v2.0.0 with 61", d.Version, d.PreviousTag, len(d.Changes))
	}
}

func TestShallowCloneFirstRelease(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("fix: bug")
	r.bulk("fix: bug", 24)
	r.push()
	clone := filepath.Join(t.TempDir(), "clone")
	r.git(filepath.Dir(clone), "clone", "--quiet", "--depth=3", "file://"+r.remote, clone)
	c := &repo{t: t, dir: clone, remote: r.remote, n: 100}
	_, d := c.mustRelease(c.env(nil, nil), Options{})
	if d.Version != "0.1.0" || len(d.Changes) != 25 {
		t.Fatalf("first release in a shallow clone: %s, %d changes", d.Version, len(d.Changes))
	}
}

func TestUnicodeAndLongMessages(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: start")
	r.tag("v1.0.0")
	long := "fix(journal): keep every byte ✨\n\n" + strings.Repeat("Ligne très longue — 日本語のテキスト — \x1f —\n", 2000)
	if len(long) < 64<<10 {
		t.Fatalf("setup: message is %d bytes", len(long))
	}
	r.commit(long)
	r.commit("feat(ui): çà et là 🚀")
	r.commit("Ünïcödé without a type")
	r.push()
	_, d := r.mustRelease(r.env(nil, nil), Options{})
	if d.Version != "1.1.0" || len(d.Changes) != 3 {
		t.Fatalf("%s with %d changes", d.Version, len(d.Changes))
	}
	cl := r.read("CHANGELOG.md")
	for _, want := range []string{"**journal:** keep every byte ✨", "**ui:** çà et là 🚀", "- Ünïcödé without a type"} {
		if !strings.Contains(cl, want) {
			t.Errorf("CHANGELOG.md lacks %q:\n%s", want, cl)
		}
	}
}

func TestVersionFilesAndTemplateOverride(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	files := map[string]string{
		"VERSION":         "1.0.0\n",
		"version.go":      "package x\n\nconst Version = \"1.0.0\"\n",
		"chart/Chart.yml": "name: os # the appliance\nappVersion: \"1.0.0\" # set by release\n",
		"notes.tmpl":      "{{ range .Groups }}{{ .Title }}: {{ len .Changes }}\n{{ end }}",
		"entry.tmpl":      "## {{ .Version }} ({{ .Date }})\n{{ range .Groups }}{{ range .Changes }}* {{ .Description }}\n{{ end }}{{ end }}",
	}
	for name, text := range files {
		p := filepath.Join(r.dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(text), 0o644)
	}
	r.run("add", ".")
	r.commit("feat: start")
	r.tag("v1.0.0")
	r.commit("feat: more")
	r.push()
	env := r.env(nil, func(c *config.Release) {
		c.VersionFiles = []config.VersionFile{
			{Path: "VERSION"},
			{Path: "version.go", Kind: "regex", Pattern: `Version = "(?P<version>[^"]+)"`},
			{Path: "chart/Chart.yml", Kind: "yaml", Key: "appVersion"},
		}
		c.Templates.Notes, c.Templates.Changelog = filepath.Join(r.dir, "notes.tmpl"), filepath.Join(r.dir, "entry.tmpl")
	})
	_, d := r.mustRelease(env, Options{})
	if d.Version != "1.1.0" || d.Notes != "Features: 1\n" {
		t.Fatalf("%s notes %q", d.Version, d.Notes)
	}
	want := map[string]string{
		"VERSION":         "1.1.0\n",
		"version.go":      "package x\n\nconst Version = \"1.1.0\"\n",
		"chart/Chart.yml": "name: os # the appliance\nappVersion: \"1.1.0\" # set by release\n",
		"CHANGELOG.md":    rel.ChangelogHeader + "\n## 1.1.0 (2026-11-21)\n* more\n",
	}
	for name, text := range want {
		if got := r.run("show", "v1.1.0:"+name); got+"\n" != text {
			t.Errorf("%s in the release commit:\n%q\nwant\n%q", name, got+"\n", text)
		}
	}
	// A file the config names that is not there is a usage error.
	r.commit("fix: x")
	env = r.env(nil, func(c *config.Release) {
		c.VersionFiles = []config.VersionFile{{Path: "nope.yml", Kind: "yaml", Key: "v"}}
	})
	if _, _, err := r.release(env, Options{}); errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "version_files[0]") {
		t.Errorf("missing version file: %v", err)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: a")
	r.tag("v1.0.0")
	r.commit("feat: b")
	r.push()
	head, remoteHead := r.head(), r.git(r.remote, "rev-parse", "main")
	env := r.env(nil, nil)
	env.DryRun = true
	res, d := r.mustRelease(env, Options{})
	if res.Outcome != stages.DryRunned || d.Version != "1.1.0" || d.Notes == "" {
		t.Fatalf("%+v %+v", res, d)
	}
	if r.head() != head || r.run("status", "--porcelain") != "" || len(r.tags(false)) != 1 || len(r.tags(true)) != 1 || r.git(r.remote, "rev-parse", "main") != remoteHead {
		t.Error("--dry-run changed something")
	}
	// The --json document of the stage: version, previous, bump, reason,
	// notes and every action.
	b, _ := json.Marshal(res)
	var doc struct {
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "previous", "bump", "reason", "notes", "actions", "changes"} {
		if _, ok := doc.Data[k]; !ok {
			t.Errorf("--json data lacks %q: %s", k, b)
		}
	}
	if doc.Data["bump"] != "minor" || doc.Data["previous"] != "1.0.0" {
		t.Errorf("json bump %v previous %v", doc.Data["bump"], doc.Data["previous"])
	}
	steps := map[string]bool{}
	for _, a := range d.Actions {
		steps[a.Step] = true
		if a.Status != "would" && a.Status != "skipped" {
			t.Errorf("dry run action %+v", a)
		}
	}
	for _, s := range []string{StepFiles, StepCommit, StepPush, StepTag, StepPushTag, StepForgeRelease} {
		if !steps[s] {
			t.Errorf("dry run does not show step %s", s)
		}
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: a")
	r.tag("v1.2.0")
	r.commit("fix: b")
	for _, o := range []Options{{Bump: "huge"}, {Version: "1.1.0"}, {Version: "nope"}, {Version: "1.3.0", Bump: "minor"}} {
		if _, _, err := r.release(r.env(nil, nil), o); errs.KindOf(err) != errs.Usage {
			t.Errorf("%+v: %v, want a usage error", o, err)
		}
	}
	// --version of the release already out: nothing to do.
	res, _ := r.mustRelease(r.env(nil, nil), Options{Version: "1.2.0"})
	if res.Outcome != stages.NoChange {
		t.Errorf("--version of the last release: %+v", res)
	}
	// Detached HEAD without a CI branch.
	r.run("checkout", "--quiet", "--detach")
	if _, _, err := r.release(r.env(nil, nil), Options{}); errs.KindOf(err) != errs.Usage || !strings.Contains(errs.Format(err), "detached") {
		t.Errorf("detached: %v", err)
	}
	_ = errors.New
}

// With mode mr and no forge, the release branch is pushed and the summary
// says the MR is to be opened by hand: it never claims an MR that no one
// opened.
func TestModeMRWithoutForge(t *testing.T) {
	t.Parallel()
	r := newRepo(t)
	r.commit("feat: boot the appliance")
	r.push()
	env := r.env(nil, func(c *config.Release) { c.Mode = config.ReleaseModeMR })
	res, d := r.mustRelease(env, Options{})
	if res.Outcome != stages.Passed || d.Mode != "mr" {
		t.Fatalf("result %+v data %+v", res, d)
	}
	if strings.Contains(res.Summary, "is open") || !strings.Contains(res.Summary, "open its MR by hand") {
		t.Errorf("summary %q", res.Summary)
	}
	branch := strings.TrimPrefix(r.git(r.remote, "for-each-ref", "--format=%(refname)", "refs/heads/pipeline-release/"), "refs/heads/")
	if branch == "" || !strings.Contains(res.Summary, branch) {
		t.Errorf("release branch %q not on origin or not in the summary %q", branch, res.Summary)
	}
	if len(r.tags(true)) != 0 {
		t.Error("mode mr tagged before the release MR was merged")
	}
}

// TestSecretInSubjectIsMasked: a token pasted into a commit subject is in
// git history already, but it does not travel further: not into
// CHANGELOG.md, the notes or the MR body.
func TestSecretInSubjectIsMasked(t *testing.T) {
	t.Parallel()
	const secret = "glpat-Zq8xW3vT9kLm2NpR"
	r := newRepo(t)
	r.commit("feat: boot the appliance")
	r.commit("fix: retry the upload (token " + secret + ")")
	r.push()
	masker := &logging.Masker{}
	masker.Add(secret)
	log, err := logging.New(io.Discard, logging.Options{}, masker)
	if err != nil {
		t.Fatal(err)
	}
	env := r.env(nil, nil)
	env.Log = log
	_, d := r.mustRelease(env, Options{})
	cl := r.read("CHANGELOG.md")
	for name, text := range map[string]string{"CHANGELOG.md": cl, "notes": d.Notes, "release commit": r.run("show", "HEAD")} {
		if strings.Contains(text, secret) {
			t.Errorf("%s holds the secret:\n%s", name, text)
		}
	}
	if !strings.Contains(cl, "retry the upload (token "+logging.Masked+")") {
		t.Errorf("CHANGELOG.md lost the change or the mask:\n%s", cl)
	}
}
