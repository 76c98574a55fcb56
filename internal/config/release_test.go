package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// The release section's own checks, reported at the value's place.
func TestReleaseValidation(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"initial version":       {"release:\n  initial_version: v1\n", "pipeline.yaml:4:20"},
		"maintenance groups":    {"release:\n  maintenance_branch: '^release/(\\d+)$'\n", "named groups"},
		"maintenance regexp":    {"release:\n  maintenance_branch: '(['\n", "not a regular expression"},
		"regex without pattern": {"release:\n  version_files:\n    - path: v.go\n      kind: regex\n", "pattern"},
		"regex without group":   {"release:\n  version_files:\n    - path: v.go\n      kind: regex\n      pattern: 'Version'\n", "needs a group"},
		"yaml without key":      {"release:\n  version_files:\n    - path: c.yml\n      kind: yaml\n", "key"},
		"unknown kind":          {"release:\n  version_files:\n    - path: c.yml\n      kind: toml\n", "toml"},
		"unknown mode":          {"release:\n  mode: tag\n", "mr, direct"},
		"bad period":            {"release:\n  milestone:\n    period: 0s\n", "positive"},
		"bad title":             {"release:\n  milestone:\n    title: '{{ .Due'\n", "Go template"},
	}
	for name, c := range cases {
		p := filepath.Join(t.TempDir(), "pipeline.yaml")
		if err := os.WriteFile(p, []byte("version: 1\nproject: {name: x}\n"+c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, func(string) (string, bool) { return "", false })
		if err == nil || !strings.Contains(errs.Format(err), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, c.want)
		}
	}
	// The defaults and a full section are valid.
	p := filepath.Join(t.TempDir(), "pipeline.yaml")
	full := `version: 1
project: {name: x}
release:
  tag_prefix: v
  mode: mr
  version_files:
    - path: VERSION
    - {path: v.go, kind: regex, pattern: 'Version = "(?P<version>[^"]+)"'}
    - {path: c.yml, kind: yaml, key: app.version}
  labels: {feature: [feature]}
  milestone: {enabled: true, period: 336h, title: 'Sprint {{ .Due.Format "2006-01-02" }}'}
  links: [{name: image, url: 'https://x/{tag}'}]
`
	if err := os.WriteFile(p, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Release.Milestone.Period.D().Hours() != 336 || cfg.Release.Changelog != "CHANGELOG.md" || len(cfg.Release.VersionFiles) != 3 {
		t.Errorf("decoded %+v", cfg.Release)
	}
}
