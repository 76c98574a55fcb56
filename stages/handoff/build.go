package handoff

import (
	"path"
	"strings"
)

// Build is what the build stage hands on: which build of which commit, the
// meta-package it pins, where its output is on this runner and in the
// store.
type Build struct {
	ID      string `json:"build_id"` // store folder name: builds/<id>
	Commit  string `json:"commit"`
	Release bool   `json:"release"` // a tagged (or configured) version, not a snapshot
	// Metapackage and Version name the pinned meta-package.
	Metapackage string `json:"metapackage"`
	Version     string `json:"version"`
	// TagPrefix is the prefix of the release tags (v in v1.2.0).
	TagPrefix string `json:"tag_prefix,omitempty"`
	// Lock is the lock file relative to Dir (dist.lock); LockURL its
	// published copy.
	Lock    string `json:"lock,omitempty"`
	LockURL string `json:"lock_url,omitempty"`
	// Dir is the local output directory, relative to the repository when
	// inside it (.pipeline/build, build.output).
	Dir string `json:"dir"`
	// Store is the store URL of the build's folder, Manifest that of its
	// manifest (every object with its sha256).
	Store    string `json:"store,omitempty"`
	Manifest string `json:"manifest_url,omitempty"`
	// APT: the published repository's root, suite, the sources.list line
	// and the signing key's URL (when signed).
	APTURL    string `json:"apt_url,omitempty"`
	APTSuite  string `json:"apt_suite,omitempty"`
	APTSource string `json:"apt_source,omitempty"`
	APTKeyURL string `json:"apt_key_url,omitempty"`
	YUMURL    string `json:"yum_url,omitempty"`
}

// BuildsPrefix is the store folder of every build.
const BuildsPrefix = "builds"

// BuildPrefix is the store folder of build id: builds/<id>.
func BuildPrefix(id string) string { return path.Join(BuildsPrefix, id) }

// BuildID is a version made safe for a key or a path: characters other
// than letters, digits, '.', '_' and '-' become '-'.
func BuildID(version string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			return c
		}
		return '-'
	}, version)
}

// Name is "build".
func (b *Build) Name() string { return "build" }

// Prefix is the build's store folder.
func (b *Build) Prefix() string { return BuildPrefix(b.ID) }

// Keys: builds/<id>/handoff.json, and the pointer commits/<sha>/build.json.
func (b *Build) Keys() []string {
	keys := []string{path.Join(b.Prefix(), "handoff.json")}
	if b.Commit != "" {
		keys = append(keys, CommitKey(b.Commit, b.Name()))
	}
	return keys
}

// The build's dotenv variables (docs/build.md lists them).
const (
	EnvMetapackage        = "PIPELINE_METAPACKAGE" // name=version
	EnvMetapackageName    = "PIPELINE_METAPACKAGE_NAME"
	EnvMetapackageVersion = "PIPELINE_METAPACKAGE_VERSION"
	EnvBuildID            = "PIPELINE_BUILD_ID"
	EnvBuildCommit        = "PIPELINE_BUILD_COMMIT"
	EnvRepoURL            = "PIPELINE_REPO_URL" // the APT root, else the YUM one
	EnvAPTSuite           = "PIPELINE_APT_SUITE"
	EnvAPTSource          = "PIPELINE_APT_SOURCE"
	EnvAPTKeyURL          = "PIPELINE_APT_KEY_URL"
	EnvYUMURL             = "PIPELINE_YUM_URL"
	EnvManifestURL        = "PIPELINE_MANIFEST_URL"
	EnvLockURL            = "PIPELINE_LOCK_URL"
)

// Dotenv is the variables later CI jobs get from a build.
func (b *Build) Dotenv() map[string]string {
	d := map[string]string{
		EnvMetapackage:        b.Metapackage + "=" + b.Version,
		EnvMetapackageName:    b.Metapackage,
		EnvMetapackageVersion: b.Version,
		EnvBuildID:            b.ID,
	}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	set(EnvBuildCommit, b.Commit)
	set(EnvAPTSuite, b.APTSuite)
	set(EnvAPTSource, b.APTSource)
	set(EnvAPTKeyURL, b.APTKeyURL)
	set(EnvYUMURL, b.YUMURL)
	set(EnvRepoURL, b.YUMURL)
	set(EnvRepoURL, b.APTURL)
	set(EnvManifestURL, b.Manifest)
	set(EnvLockURL, b.LockURL)
	return d
}
