package config

import (
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Release is the `release:` section of pipeline.yaml (docs/release.md).
type Release struct {
	// TagPrefix is put before the version in tag names ("v" → v1.4.0).
	TagPrefix string `yaml:"tag_prefix" doc:"Put before the version in release tag names: 'v' gives v1.4.0. Tags that are not this prefix and a semantic version are ignored."`
	// InitialVersion is the first release when no release tag exists.
	InitialVersion string `yaml:"initial_version" doc:"The version of the first release, when no release tag exists yet (default 0.1.0)."`
	// Mode is how the release lands: "mr" commits on a release branch and
	// opens the release MR (merging it tags on the next run); "direct"
	// commits and tags on the branch itself; "" picks mr when a forge is
	// configured and direct otherwise.
	Mode string `yaml:"mode" enum:"mr,direct" doc:"mr: commit on a release branch and open (or update) the release merge request; direct: commit and tag on the branch itself. Default: mr with a forge, direct without."`
	// Remote is the git remote pushed to.
	Remote string `yaml:"remote" doc:"The git remote the release commit and tag are pushed to (default origin). Without such a remote the release stays local."`
	// MRBranch is the branch the release MR comes from; {branch} is the
	// branch being released.
	MRBranch string `yaml:"mr_branch" doc:"Source branch of the release merge request; {branch} is replaced by the released branch (default pipeline-release/{branch})."`
	// MaintenanceBranch is a regular expression with the named groups
	// major and minor: on a matching branch only that line is released.
	MaintenanceBranch string `yaml:"maintenance_branch" doc:"Regular expression with named groups major and minor matching maintenance branches (default ^release/(?P<major>\\d+)\\.(?P<minor>\\d+)(?:\\.x)?$): release/1.3 releases 1.3.x only."`
	// Changelog is the file the entry is prepended to; "" writes none.
	Changelog string `yaml:"changelog" doc:"The changelog file the new entry is prepended to (default CHANGELOG.md); an empty string writes none."`
	// VersionFiles are updated to the new version.
	VersionFiles []VersionFile `yaml:"version_files" doc:"Files whose version is updated: a plain file, a regular expression, or a YAML key."`
	// Labels map MR labels to kinds of change.
	Labels ReleaseLabels `yaml:"labels" doc:"Which MR labels mark a breaking change, a feature, a fix or a performance change (they bump like the Conventional Commit types)."`
	// Rules map kinds of commit to bumps, tried before the built-in ones.
	Rules []ReleaseRule `yaml:"rules" doc:"Bump rules tried in order before the built-in ones (docs/release.md lists them); the first rule whose type, scope, breaking and subject all match decides the bump."`
	// RevertBump is the bump a revert of an already released change asks for.
	RevertBump string `yaml:"revert_bump" enum:"major,minor,patch,none" doc:"The bump a revert of an already released change asks for (default patch; none: such a revert alone releases nothing)."`
	// Sections are the headings of the notes and which types go under each.
	Sections []ReleaseSection `yaml:"sections" doc:"The headings of the release notes and changelog, in order, and which Conventional Commit types each lists ('breaking': every breaking change, '*': every change no other section takes). A type no section names is left out of the notes. Default: docs/release.md."`
	// Templates are files (relative to pipeline.yaml) replacing the
	// built-in templates/release/*.tmpl.
	Templates ReleaseTemplates `yaml:"templates" doc:"Your own text/template files for the notes, the changelog entry and the release MR body."`
	// Milestone rotation.
	Milestone ReleaseMilestone `yaml:"milestone" doc:"Close the current milestone and open the next one."`
	// Comment on each shipped MR and issue.
	Comment bool `yaml:"comment" doc:"Comment on every released MR and closed issue that it shipped in this version."`
	// Links are attached to the forge release; {version} and {tag} are
	// replaced.
	Links []ReleaseLink `yaml:"links" doc:"Links attached to the forge release (artifacts published by build and template); {version} and {tag} are replaced."`
	// Manifests are keys, in the artifact store, of manifests written by
	// build and template; every object they list is linked from the forge
	// release. {version} and {tag} are replaced; a missing one is skipped.
	Manifests []string `yaml:"manifests" pipeline:"nonempty" doc:"Keys in the artifact store of manifests that build and template wrote (builds/{version}/manifest.json): each object they list is linked from the forge release. A missing manifest is skipped."`
}

// VersionFile is one file holding the version.
type VersionFile struct {
	Path string `yaml:"path" pipeline:"required" doc:"The file, relative to the repository root."`
	// Kind: plain (the whole file is the version), regex, or yaml.
	Kind string `yaml:"kind" enum:"plain,regex,yaml" doc:"plain: the file is the version; regex: replace the group named version (or the first group) of pattern; yaml: set the scalar at key."`
	// Pattern is the regular expression for kind regex.
	Pattern string `yaml:"pattern" doc:"For kind regex: a regular expression whose group named version (or first group) is the version."`
	// Key is the dotted key for kind yaml ("package.version").
	Key string `yaml:"key" doc:"For kind yaml: the dotted key of the version (package.version)."`
}

// ReleaseLabels lists the MR labels of each kind of change.
type ReleaseLabels struct {
	Breaking    []string `yaml:"breaking" doc:"Labels that make an MR a breaking change (major bump)."`
	Feature     []string `yaml:"feature" doc:"Labels that make an MR a feature (minor bump)."`
	Fix         []string `yaml:"fix" doc:"Labels that make an MR a fix (patch bump)."`
	Performance []string `yaml:"performance" doc:"Labels that make an MR a performance change (patch bump)."`
}

// ReleaseRule maps a kind of commit to a bump.
type ReleaseRule struct {
	Type     string `yaml:"type" doc:"The Conventional Commit type (feat, chore, ...); a message that is not a Conventional Commit never matches a rule with a type."`
	Scope    string `yaml:"scope" doc:"A glob on the scope: deps, ui-*."`
	Breaking *bool  `yaml:"breaking" doc:"true: only breaking changes; false: only the others."`
	Subject  string `yaml:"subject" doc:"A regular expression on the description (the text after the colon)."`
	Bump     string `yaml:"bump" pipeline:"required" enum:"major,minor,patch,none" doc:"What a matching change asks for."`
}

// ReleaseSection is one heading of the notes.
type ReleaseSection struct {
	Title string   `yaml:"title" pipeline:"required" doc:"The heading."`
	Types []string `yaml:"types" pipeline:"required" doc:"The Conventional Commit types listed under it; 'breaking' and '*' as in sections."`
}

// ReleaseTemplates are paths of template files overriding the built-ins.
type ReleaseTemplates struct {
	Notes        string `yaml:"notes" doc:"Template file for the forge release notes (default templates/release/notes.md.tmpl)."`
	Changelog    string `yaml:"changelog" doc:"Template file for the changelog entry (default templates/release/changelog-entry.md.tmpl)."`
	MergeRequest string `yaml:"merge_request" doc:"Template file for the release MR description (default templates/release/mr-body.md.tmpl)."`
}

// ReleaseMilestone configures the milestone rotation.
type ReleaseMilestone struct {
	Enabled bool     `yaml:"enabled" doc:"Close the current milestone on release and create the next one (default true; needs a forge)."`
	Period  Duration `yaml:"period" doc:"How far after the current milestone's due date the next one is due (default 168h, a week)."`
	// Title is a text/template of the next milestone's title; .Due and
	// .Start are time.Time values.
	Title string `yaml:"title" doc:"Go template of the next milestone's title, with .Start and .Due (default {{ .Due.Format \"2006-01-02\" }})."`
}

// ReleaseLink is a link attached to the forge release.
type ReleaseLink struct {
	Name string `yaml:"name" pipeline:"required" doc:"The link's text."`
	URL  string `yaml:"url" pipeline:"required" doc:"The link's address; {version} and {tag} are replaced."`
}

// Release modes.
const (
	ReleaseModeMR     = "mr"
	ReleaseModeDirect = "direct"
)

// DefaultRelease is the release section when the file says nothing.
func DefaultRelease() Release {
	return Release{
		TagPrefix:         "v",
		InitialVersion:    "0.1.0",
		Remote:            "origin",
		MRBranch:          "pipeline-release/{branch}",
		MaintenanceBranch: `^release/(?P<major>\d+)\.(?P<minor>\d+)(?:\.x)?$`,
		Changelog:         "CHANGELOG.md",
		RevertBump:        "patch",
		Labels: ReleaseLabels{
			Breaking:    []string{"breaking", "breaking change", "breaking-change"},
			Feature:     []string{"feature", "enhancement"},
			Fix:         []string{"bug", "fix", "bugfix"},
			Performance: []string{"performance", "perf"},
		},
		Milestone: ReleaseMilestone{Enabled: true, Period: Duration(7 * 24 * time.Hour), Title: `{{ .Due.Format "2006-01-02" }}`},
	}
}

// Validate checks what types cannot.
func (r Release) Validate() []FieldError {
	var errs []FieldError
	if _, err := semver.StrictNewVersion(r.InitialVersion); err != nil {
		errs = append(errs, FieldError{Path: "initial_version", Msg: "must be a semantic version such as 0.1.0 or 1.0.0 (no prefix)"})
	}
	if strings.ContainsAny(r.TagPrefix, " ~^:?*[\\") {
		errs = append(errs, FieldError{Path: "tag_prefix", Msg: "must be usable in a git tag name (no spaces or ~^:?*[\\)"})
	}
	if r.MaintenanceBranch != "" {
		re, err := regexp.Compile(r.MaintenanceBranch)
		switch {
		case err != nil:
			errs = append(errs, FieldError{Path: "maintenance_branch", Msg: "is not a regular expression: " + err.Error()})
		case re.SubexpIndex("major") < 0 || re.SubexpIndex("minor") < 0:
			errs = append(errs, FieldError{Path: "maintenance_branch", Msg: "needs the named groups (?P<major>\\d+) and (?P<minor>\\d+)"})
		}
	}
	if strings.TrimSpace(r.Remote) == "" {
		errs = append(errs, FieldError{Path: "remote", Msg: "must not be empty"})
	}
	if !strings.Contains(r.MRBranch, "{branch}") && strings.TrimSpace(r.MRBranch) == "" {
		errs = append(errs, FieldError{Path: "mr_branch", Msg: "must not be empty"})
	}
	if r.Milestone.Period <= 0 {
		errs = append(errs, FieldError{Path: "milestone.period", Msg: "must be a positive duration such as 168h"})
	}
	if _, err := template.New("t").Parse(r.Milestone.Title); err != nil || strings.TrimSpace(r.Milestone.Title) == "" {
		errs = append(errs, FieldError{Path: "milestone.title", Msg: "must be a Go template such as {{ .Due.Format \"2006-01-02\" }}"})
	}
	if msg := RepoPathProblem(r.Changelog); msg != "" {
		errs = append(errs, FieldError{Path: "changelog", Msg: msg})
	}
	for _, t := range []struct{ key, path string }{{"templates.notes", r.Templates.Notes},
		{"templates.changelog", r.Templates.Changelog}, {"templates.merge_request", r.Templates.MergeRequest}} {
		if filepath.IsAbs(t.path) {
			errs = append(errs, FieldError{Path: t.key, Msg: "must be a path relative to pipeline.yaml, inside the repository, not an absolute path"})
		}
	}
	for i, rule := range r.Rules {
		p := "rules[" + strconv.Itoa(i) + "]"
		if rule.Subject != "" {
			if _, err := regexp.Compile(rule.Subject); err != nil {
				errs = append(errs, FieldError{Path: p + ".subject", Msg: "is not a regular expression: " + err.Error()})
			}
		}
		if rule.Scope != "" {
			if _, err := path.Match(rule.Scope, ""); err != nil {
				errs = append(errs, FieldError{Path: p + ".scope", Msg: "is not a glob such as deps or ui-*: " + err.Error()})
			}
		}
	}
	for i, sec := range r.Sections {
		for j, t := range sec.Types {
			if strings.TrimSpace(t) == "" {
				errs = append(errs, FieldError{Path: "sections[" + strconv.Itoa(i) + "].types[" + strconv.Itoa(j) + "]", Msg: "must not be empty: give a type such as feat, or breaking, or *"})
			}
		}
	}
	for i, vf := range r.VersionFiles {
		p := "version_files[" + strconv.Itoa(i) + "]"
		if msg := RepoPathProblem(vf.Path); msg != "" {
			errs = append(errs, FieldError{Path: p + ".path", Msg: msg})
		}
		switch vf.Kind {
		case "", "plain":
		case "regex":
			if vf.Pattern == "" {
				errs = append(errs, FieldError{Path: p + ".pattern", Msg: "is required for kind regex"})
			} else if re, err := regexp.Compile(vf.Pattern); err != nil {
				errs = append(errs, FieldError{Path: p + ".pattern", Msg: "is not a regular expression: " + err.Error()})
			} else if re.NumSubexp() == 0 {
				errs = append(errs, FieldError{Path: p + ".pattern", Msg: "needs a group around the version, such as (?P<version>[0-9.]+)"})
			}
		case "yaml":
			if vf.Key == "" {
				errs = append(errs, FieldError{Path: p + ".key", Msg: "is required for kind yaml"})
			}
		}
	}
	return errs
}

// RepoPathProblem says what is wrong with p as the path of a file the
// release writes and commits, relative to the repository root: an
// absolute path, one that climbs out (..), or one inside .git. "" when it
// is fine (the stage also resolves symbolic links before it writes).
func RepoPathProblem(p string) string {
	if p == "" {
		return ""
	}
	if filepath.IsAbs(p) {
		return "must be a path relative to the repository root, not an absolute path"
	}
	c := filepath.Clean(p)
	if c == ".." || strings.HasPrefix(c, ".."+string(filepath.Separator)) {
		return "must stay inside the repository (it climbs out with ..)"
	}
	if c == "." {
		return "must name a file, not the repository root"
	}
	if first, _, _ := strings.Cut(filepath.ToSlash(c), "/"); first == ".git" {
		return "must not be inside .git"
	}
	return ""
}
