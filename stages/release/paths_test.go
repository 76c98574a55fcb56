package release

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// TestPathsOutsideTheRepository: a changelog, version file or template
// that is (or leads through a symbolic link) outside the repository is a
// usage error naming the key where pipeline.yaml sets it; nothing is
// written outside, nothing committed, pushed or tagged.
func TestPathsOutsideTheRepository(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(r *repo, outside string) // before the release commit
		yaml  string                        // the release section
		key   string
	}{
		{name: "changelog climbs out", yaml: "  changelog: ../outside/CHANGELOG.md\n", key: "release.changelog"},
		{name: "changelog is a symlink out", yaml: "  changelog: CHANGELOG.md\n", key: "release.changelog",
			setup: func(r *repo, outside string) {
				os.Symlink(filepath.Join(outside, "CHANGELOG.md"), filepath.Join(r.dir, "CHANGELOG.md"))
			}},
		{name: "changelog under a symlinked dir", yaml: "  changelog: docs/CHANGELOG.md\n", key: "release.changelog",
			setup: func(r *repo, outside string) { os.Symlink(outside, filepath.Join(r.dir, "docs")) }},
		{name: "version file climbs out", yaml: "  version_files:\n    - path: ../outside/VERSION\n", key: "release.version_files[0].path"},
		{name: "notes template climbs out", yaml: "  templates:\n    notes: ../outside/secret\n", key: "release.templates.notes"},
		{name: "notes template is a symlink out", yaml: "  templates:\n    notes: notes.tmpl\n", key: "release.templates.notes",
			setup: func(r *repo, outside string) {
				os.Symlink(filepath.Join(outside, "secret"), filepath.Join(r.dir, "notes.tmpl"))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			outside := filepath.Join(filepath.Dir(r.dir), "outside")
			os.MkdirAll(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "secret"), []byte("root:x:0:0\n"), 0o644)
			os.WriteFile(filepath.Join(outside, "VERSION"), []byte("9.9.9\n"), 0o644)
			text := "version: 1\nproject: {name: x}\nrelease:\n  mode: direct\n" + c.yaml
			os.WriteFile(filepath.Join(r.dir, "pipeline.yaml"), []byte(text), 0o644)
			if c.setup != nil {
				c.setup(r, outside)
			}
			r.run("add", ".")
			r.commit("feat: start")
			r.push()
			head := r.head()
			env := r.env(nil, nil)
			cfg, err := config.Load(filepath.Join(r.dir, "pipeline.yaml"), nil)
			if err != nil {
				// The loader refuses what it can see: also at the key.
				if !strings.Contains(err.Error(), "pipeline.yaml:") || !strings.Contains(err.Error(), strings.TrimPrefix(c.key, "release.")) {
					t.Fatalf("load: %v", err)
				}
				// The stage must refuse it as well, for a config built
				// without the loader: keep the bad value, skip Validate.
				cfg = config.Default()
				cfg.Path = filepath.Join(r.dir, "pipeline.yaml")
				if err := setFromYAML(cfg, c.yaml); err != nil {
					t.Fatal(err)
				}
			}
			env.Config = cfg
			_, _, err = r.release(env, Options{})
			if errs.KindOf(err) != errs.Usage {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), "pipeline.yaml:") || !strings.Contains(err.Error(), c.key) {
				t.Errorf("error does not name %s at its place in pipeline.yaml: %v", c.key, err)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "CHANGELOG.md")); len(b) > 0 {
				t.Errorf("a changelog was written outside the repository")
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "VERSION")); string(b) != "9.9.9\n" {
				t.Errorf("the version file outside was changed: %q", b)
			}
			if got := r.head(); got != head {
				t.Errorf("HEAD moved to %s", got)
			}
			if tags := r.tags(true); len(tags) != 0 {
				t.Errorf("tags pushed: %v", tags)
			}
		})
	}
}

// setFromYAML sets the release section's paths the way the cases write
// them, without the loader's checks.
func setFromYAML(cfg *config.Config, section string) error {
	for _, line := range strings.Split(section, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		switch strings.TrimPrefix(k, "- ") {
		case "changelog":
			cfg.Release.Changelog = v
		case "path":
			cfg.Release.VersionFiles = []config.VersionFile{{Path: v}}
		case "notes":
			cfg.Release.Templates.Notes = v
		}
	}
	cfg.Release.Mode = config.ReleaseModeDirect
	return nil
}

// TestIgnoredChangelogIsAnError: a changelog under a path .gitignore
// ignores would be written and left out of the release commit, and the
// tag put on the untouched commit: it is a usage error before anything is
// written, committed, pushed or tagged, in both modes.
func TestIgnoredChangelogIsAnError(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{config.ReleaseModeDirect, config.ReleaseModeMR} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			os.WriteFile(filepath.Join(r.dir, ".gitignore"), []byte("build/\n"), 0o644)
			r.run("add", ".gitignore")
			r.commit("feat: start")
			r.push()
			head := r.head()
			env := r.env(nil, func(c *config.Release) { c.Changelog, c.Mode = "build/CHANGELOG.md", mode })
			_, _, err := r.release(env, Options{})
			if errs.KindOf(err) != errs.Usage || !strings.Contains(err.Error(), "ignored by git") || !strings.Contains(err.Error(), ".gitignore:1:build/") {
				t.Fatalf("err = %v, want a usage error saying .gitignore ignores the changelog", err)
			}
			if _, err := os.Stat(filepath.Join(r.dir, "build", "CHANGELOG.md")); err == nil {
				t.Error("the changelog was written")
			}
			if got := r.head(); got != head {
				t.Errorf("HEAD moved to %s", got)
			}
			if tags := r.tags(false); len(tags) != 0 {
				t.Errorf("tagged: %v", tags)
			}
			if tags := r.tags(true); len(tags) != 0 {
				t.Errorf("tags pushed: %v", tags)
			}
			if b := r.git(r.remote, "for-each-ref", "--format=%(refname)", "refs/heads/"); b != "refs/heads/main" {
				t.Errorf("branches on origin: %s", b)
			}
		})
	}
}
