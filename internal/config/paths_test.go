package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleasePathsStayInTheRepository: every file path of the release
// section is refused at its place in the file when it is absolute, climbs
// out of the repository, or points into .git.
func TestReleasePathsStayInTheRepository(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"changelog climbs out":  {"release:\n  changelog: ../../CHANGELOG.md\n", "pipeline.yaml:4:14: release.changelog: must stay inside the repository"},
		"changelog absolute":    {"release:\n  changelog: /tmp/CHANGELOG.md\n", "pipeline.yaml:4:14: release.changelog: must be a path relative to the repository root"},
		"changelog in .git":     {"release:\n  changelog: .git/hooks/post-commit\n", "pipeline.yaml:4:14: release.changelog: must not be inside .git"},
		"changelog dot-dot mid": {"release:\n  changelog: docs/../../x.md\n", "release.changelog: must stay inside"},
		"version file":          {"release:\n  version_files:\n    - path: ../VERSION\n", "pipeline.yaml:5:13: release.version_files[0].path: must stay inside"},
		"notes absolute":        {"release:\n  templates:\n    notes: /etc/passwd\n", "pipeline.yaml:5:12: release.templates.notes: must be a path relative to pipeline.yaml"},
		"mr body absolute":      {"release:\n  templates:\n    merge_request: /etc/passwd\n", "release.templates.merge_request: must be a path relative"},
	}
	for name, c := range cases {
		p := filepath.Join(t.TempDir(), "pipeline.yaml")
		if err := os.WriteFile(p, []byte("version: 1\nproject: {name: x}\n"+c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
	for _, ok := range []string{"CHANGELOG.md", "docs/CHANGELOG.md", "./docs/../CHANGES", ".github/CHANGELOG.md", ".gitkeep.md"} {
		if msg := RepoPathProblem(ok); msg != "" {
			t.Errorf("%s: %s", ok, msg)
		}
	}
}

// TestWhere finds a key's value in the file, and says the file alone for
// a key it does not set.
func TestWhere(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipeline.yaml")
	text := "version: 1\nproject: {name: x}\nrelease:\n  changelog: docs/CHANGES.md\n  version_files:\n    - path: VERSION\n    - {path: chart.yml, kind: yaml, key: v}\n"
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"release.changelog":             ":4:14",
		"release.version_files[0].path": ":6:13",
		"release.version_files[1].path": ":7:14",
		"release.templates.notes":       "pipeline.yaml",
	} {
		if got := cfg.Where(key); !strings.HasSuffix(got, want) {
			t.Errorf("Where(%s) = %q, want …%s", key, got, want)
		}
	}
	if got := (&Config{}).Where("release.changelog"); got != "pipeline.yaml" {
		t.Errorf("no file: %q", got)
	}
}
