package handoff

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
)

// LastRelease picks the production version from release tags: the newest
// semver among tags with prefix, skipping pre-releases and, when
// underTest is a version, anything newer than it, and the release itself
// (a release build is not its own production; a snapshot
// 1.2.0+3.gabc, three commits after v1.2.0, upgrades from 1.2.0). ok is
// false when no tag qualifies.
func LastRelease(tags []string, prefix, underTest string) (version, tag string, ok bool) {
	var limit *semver.Version
	if underTest != "" {
		limit, _ = semver.NewVersion(underTest)
	}
	type cand struct {
		v   *semver.Version
		tag string
	}
	var cands []cand
	for _, t := range tags {
		t = strings.TrimSpace(t)
		rest, has := strings.CutPrefix(t, prefix)
		if !has || rest == "" {
			continue
		}
		v, err := semver.StrictNewVersion(rest)
		if err != nil || v.Prerelease() != "" {
			continue
		}
		if limit != nil && (v.GreaterThan(limit) || v.Equal(limit) && limit.Metadata() == "") {
			continue
		}
		cands = append(cands, cand{v, t})
	}
	if len(cands) == 0 {
		return "", "", false
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].v.GreaterThan(cands[j].v) })
	return cands[0].v.Original(), cands[0].tag, true
}

// Production is a published build of the production version.
type Production struct {
	Version  string             `json:"version"`
	Prefix   string             `json:"prefix"` // builds/<id>
	Manifest artifacts.Manifest `json:"-"`
	URL      string             `json:"url"` // store URL of the build's folder
}

// ErrNoBuild is wrapped when the store has no build of a version.
var ErrNoBuild = fmt.Errorf("no build of that version in the artifact store")

// FindProduction finds the build of version in the store by its manifest
// (builds/<id>/manifest.json, written last, so a half-published build is
// not found). The error wraps ErrNoBuild when there is none.
func FindProduction(ctx context.Context, st artifacts.Store, version string) (*Production, error) {
	prefix := BuildPrefix(BuildID(version))
	m, found, err := ReadManifest(ctx, st, prefix)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("version %s: %s has no manifest: %w", version, st.URL(prefix), ErrNoBuild)
	}
	if m.Version != "" && m.Version != version {
		return nil, fmt.Errorf("version %s: the manifest at %s is of version %s: %w", version, st.URL(prefix), m.Version, ErrNoBuild)
	}
	return &Production{Version: version, Prefix: prefix, Manifest: m, URL: st.URL(prefix)}, nil
}
