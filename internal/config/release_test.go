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
		"initial version":        {"release:\n  initial_version: v1\n", "pipeline.yaml:4:20"},
		"maintenance groups":     {"release:\n  maintenance_branch: '^release/(\\d+)$'\n", "named groups"},
		"maintenance regexp":     {"release:\n  maintenance_branch: '(['\n", "not a regular expression"},
		"regex without pattern":  {"release:\n  version_files:\n    - path: v.go\n      kind: regex\n", "pattern"},
		"regex without group":    {"release:\n  version_files:\n    - path: v.go\n      kind: regex\n      pattern: 'Version'\n", "needs a group"},
		"yaml without key":       {"release:\n  version_files:\n    - path: c.yml\n      kind: yaml\n", "key"},
		"unknown kind":           {"release:\n  version_files:\n    - path: c.yml\n      kind: toml\n", "toml"},
		"unknown mode":           {"release:\n  mode: tag\n", "mr, direct"},
		"bad period":             {"release:\n  milestone:\n    period: 0s\n", "positive"},
		"bad title":              {"release:\n  milestone:\n    title: '{{ .Due'\n", "Go template"},
		"rule subject":           {"release:\n  rules:\n    - {type: chore, subject: '([', bump: patch}\n", "pipeline.yaml:5:"},
		"rule scope glob":        {"release:\n  rules:\n    - {scope: 'de[ps', bump: patch}\n", "not a glob"},
		"rule without bump":      {"release:\n  rules:\n    - {type: chore}\n", "bump"},
		"rule unknown bump":      {"release:\n  rules:\n    - {type: chore, bump: micro}\n", "major, minor, patch, none"},
		"rule breaking not bool": {"release:\n  rules:\n    - {breaking: maybe, bump: none}\n", "pipeline.yaml:5:"},
		"revert bump":            {"release:\n  revert_bump: tiny\n", "patch"},
		"section without types":  {"release:\n  sections:\n    - {title: Features}\n", "types"},
		"section empty type":     {"release:\n  sections:\n    - {title: Features, types: ['']}\n", "must not be empty"},
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
  revert_bump: none
  rules:
    - {type: chore, scope: deps, bump: patch}
    - {scope: no-release, bump: none}
    - {breaking: true, type: docs, bump: minor}
    - {subject: '^security', bump: patch}
  sections:
    - {title: New, types: [feat]}
    - {title: Dependencies, types: [chore, build]}
`
	if err := os.WriteFile(p, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Release.Milestone.Period.D().Hours() != 336 || cfg.Release.Changelog != "CHANGELOG.md" || len(cfg.Release.VersionFiles) != 3 ||
		len(cfg.Release.Rules) != 4 || *cfg.Release.Rules[2].Breaking != true || cfg.Release.Rules[3].Subject != "^security" ||
		cfg.Release.RevertBump != "none" || len(cfg.Release.Sections) != 2 || cfg.Release.Sections[1].Types[1] != "build" {
		t.Errorf("decoded %+v", cfg.Release)
	}
}
