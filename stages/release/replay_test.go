package release

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
	"github.com/pipeline-ci/pipeline/internal/config"
)

// replayExceptions are the tags of the bundled history that pipeline is
// not expected to reproduce, each with why.
var replayExceptions = map[string]string{
	"v2.0.0": "a major release with no breaking-change marker in any commit since v1.0.1 (the package was renamed to @semantic-release/error)",
}

// TestReplayRealHistory replays a real project's machine-made releases
// (testdata/replay/README.md): for each stable tag, HEAD at its commit and
// only the lower tags present, the dry-run plan must give the tag's version.
func TestReplayRealHistory(t *testing.T) {
	t.Parallel()
	bundle, err := filepath.Abs("testdata/replay/semantic-release-error.bundle")
	if err != nil {
		t.Fatal(err)
	}
	r := newRepo(t)
	dir := filepath.Join(t.TempDir(), "error")
	r.git("", "clone", "--quiet", "--no-checkout", bundle, dir)
	r.git(dir, "remote", "remove", "origin")

	type tag struct {
		name, sha string
		v         *semver.Version
	}
	var tags []tag
	for _, line := range strings.Split(r.git(dir, "for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/tags"), "\n") {
		name, sha, _ := strings.Cut(line, " ")
		v, err := semver.StrictNewVersion(strings.TrimPrefix(name, "v"))
		if err != nil {
			t.Fatalf("tag %q of the bundle is not a version", name)
		}
		tags = append(tags, tag{name, sha, v})
		r.git(dir, "tag", "-d", name)
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].v.LessThan(tags[j].v) })
	if len(tags) != 9 {
		t.Fatalf("%d tags in the bundle, want 9", len(tags))
	}
	h := &repo{t: t, dir: dir}
	reproduced, stable := 0, 0
	for _, tg := range tags {
		if tg.v.Prerelease() == "" {
			stable++
			r.git(dir, "checkout", "--quiet", "--force", "-B", "main", tg.sha)
			env := h.env(nil, func(c *config.Release) { c.InitialVersion = "1.0.0" })
			env.DryRun = true
			_, d := h.mustRelease(env, Options{})
			got := d.Version
			if !d.Releasable {
				got = "nothing to release"
			}
			reason, listed := replayExceptions[tg.name]
			switch {
			case got == tg.v.String() && listed:
				t.Errorf("%s is reproduced but listed as an exception (%s): remove it from replayExceptions", tg.name, reason)
			case got == tg.v.String():
				reproduced++
			case !listed:
				t.Errorf("%s: the plan gives %s (%s)", tg.name, got, d.Reason)
			}
		}
		r.git(dir, "tag", tg.name, tg.sha)
	}
	t.Logf("%d of %d stable tags reproduced, %d listed exception(s)", reproduced, stable, len(replayExceptions))
	if reproduced+len(replayExceptions) != stable {
		t.Errorf("%d reproduced + %d exceptions != %d stable tags", reproduced, len(replayExceptions), stable)
	}
}
