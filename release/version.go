package release

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Bump is how far a version moves.
type Bump int

const (
	NoBump Bump = iota
	Patch
	Minor
	Major
)

func (b Bump) String() string { return [...]string{"none", "patch", "minor", "major"}[b] }

// MarshalText makes bumps readable in --json.
func (b Bump) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// ParseBump reads --bump.
func ParseBump(s string) (Bump, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "major":
		return Major, nil
	case "minor":
		return Minor, nil
	case "patch":
		return Patch, nil
	case "", "auto":
		return NoBump, nil
	}
	return NoBump, fmt.Errorf("bump %q: want major, minor or patch", s)
}

// BumpOf is the bump a change of kind k asks for.
func BumpOf(k Kind) Bump {
	switch k {
	case Breaking:
		return Major
	case Feature:
		return Minor
	case Fix, Performance:
		return Patch
	}
	return NoBump
}

// Tag is a release tag: a git tag whose name is the prefix and a semantic
// version.
type Tag struct {
	Name    string
	SHA     string // the commit it points at
	Version *semver.Version
}

// ParseTag reads name as prefix + strict semver ("v1.4.0", "v1.4.0-rc.2").
// ok is false for any other tag name.
func ParseTag(name, prefix string) (*semver.Version, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return nil, false
	}
	v, err := semver.StrictNewVersion(rest)
	if err != nil {
		return nil, false
	}
	return v, true
}

// TagName is the tag for version v.
func TagName(prefix string, v *semver.Version) string { return prefix + v.String() }

// TagRef is a tag name and the commit it points at, as listed by git.
type TagRef struct{ Name, SHA string }

// SortTags keeps the release tags of refs, highest version first, and
// returns the names of the tags that are not semantic versions. On a
// maintenance line only that line's versions are kept.
func SortTags(refs []TagRef, prefix string, line *Line) (tags []Tag, ignored []string) {
	for _, r := range refs {
		v, ok := ParseTag(r.Name, prefix)
		if !ok {
			ignored = append(ignored, r.Name)
			continue
		}
		if line != nil && !line.Contains(v) {
			continue
		}
		tags = append(tags, Tag{Name: r.Name, SHA: r.SHA, Version: v})
	}
	sort.SliceStable(tags, func(i, j int) bool { return tags[i].Version.GreaterThan(tags[j].Version) })
	return tags, ignored
}

// Line is a maintenance line: release/1.3 releases 1.3.x only.
type Line struct{ Major, Minor uint64 }

func (l Line) String() string { return fmt.Sprintf("%d.%d.x", l.Major, l.Minor) }

// Contains reports whether v is on the line.
func (l Line) Contains(v *semver.Version) bool { return v.Major() == l.Major && v.Minor() == l.Minor }

// DefaultMaintenanceBranch matches release/1.3 and release/1.3.x.
const DefaultMaintenanceBranch = `^release/(?P<major>\d+)\.(?P<minor>\d+)(?:\.x)?$`

// LineOf returns the maintenance line of branch, or nil when branch is not
// a maintenance branch. pattern is a regular expression with the named
// groups major and minor.
func LineOf(branch, pattern string) (*Line, error) {
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("maintenance_branch %q: %w", pattern, err)
	}
	mi, ni := re.SubexpIndex("major"), re.SubexpIndex("minor")
	if mi < 0 || ni < 0 {
		return nil, fmt.Errorf("maintenance_branch %q: needs the named groups (?P<major>…) and (?P<minor>…)", pattern)
	}
	m := re.FindStringSubmatch(branch)
	if m == nil {
		return nil, nil
	}
	maj, err1 := strconv.ParseUint(m[mi], 10, 64)
	min, err2 := strconv.ParseUint(m[ni], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("maintenance branch %q: major and minor must be numbers", branch)
	}
	return &Line{Major: maj, Minor: min}, nil
}

// NextInput is what the next version is computed from.
type NextInput struct {
	// LastStable is the last stable release on this line (nil: none yet).
	LastStable *semver.Version
	// LastAny is the last release of any kind (a pre-release above
	// LastStable, or LastStable itself); nil when there is none.
	LastAny *semver.Version
	// Bump is the bump the changes since LastStable ask for.
	Bump Bump
	// Forced is --bump; Version is --version. At most one is set.
	Forced  Bump
	Version *semver.Version
	// Pre is the pre-release identifier ("rc"): the result is X.Y.Z-rc.N.
	Pre string
	// Existing are every release version known (all tags), to continue a
	// pre-release sequence.
	Existing []*semver.Version
	// Line restricts the result to a maintenance line.
	Line *Line
	// Initial is the first version when there is no release yet.
	Initial *semver.Version
}

// Next computes the next version and says why. It returns an error for a
// request that cannot be honoured (a --version not above the last release,
// or outside the maintenance line).
func Next(in NextInput) (v *semver.Version, bump Bump, reason []string, err error) {
	bump = in.Bump
	if in.Forced != NoBump {
		bump = in.Forced
		reason = append(reason, "--bump "+bump.String()+" given")
	}
	switch {
	case in.Version != nil:
		base := *in.Version
		v = &base
		reason = append(reason, "--version "+in.Version.String()+" given")
		bump = bumpBetween(in.LastStable, v)
	case in.LastStable == nil && in.LastAny != nil && in.LastAny.Prerelease() != "":
		// Only pre-releases so far: the first stable one is their version.
		base, _ := in.LastAny.SetPrerelease("")
		v = &base
		reason = append(reason, "first stable release after "+in.LastAny.String())
	case in.LastStable == nil:
		v = in.Initial
		if in.Line != nil {
			v = semver.New(in.Line.Major, in.Line.Minor, 0, "", "")
		}
		reason = append(reason, "first release")
	default:
		if in.LastStable.Major() == 0 && bump == Major && in.Forced != Major {
			bump = Minor
			reason = append(reason, "0.x: a breaking change bumps the minor version")
		}
		if in.Line != nil && bump > Patch {
			if in.Forced != NoBump {
				return nil, bump, reason, fmt.Errorf("--bump %s on maintenance line %s: only patch releases are made there", bump, in.Line)
			}
			reason = append(reason, fmt.Sprintf("maintenance line %s: %s capped to patch", in.Line, bump))
			bump = Patch
		}
		next := *in.LastStable
		switch bump {
		case Major:
			next = next.IncMajor()
		case Minor:
			next = next.IncMinor()
		default:
			next = next.IncPatch()
		}
		v = &next
		// Pre-releases of a higher version are already out (an rc made
		// with --bump minor, say): continue that version, never go below.
		if in.LastAny != nil && in.LastAny.Prerelease() != "" {
			if base, _ := in.LastAny.SetPrerelease(""); v.LessThan(&base) {
				v = &base
				reason = append(reason, "continues the "+base.String()+" pre-releases")
			}
		}
	}
	if in.Line != nil && !in.Line.Contains(v) {
		return nil, bump, reason, fmt.Errorf("version %s is not on maintenance line %s", v, in.Line)
	}
	if in.Pre != "" {
		if v.Prerelease() != "" {
			return nil, bump, reason, fmt.Errorf("--version %s already names a pre-release: drop --pre or give X.Y.Z", v)
		}
		n := 1
		for _, e := range in.Existing {
			if e.Major() == v.Major() && e.Minor() == v.Minor() && e.Patch() == v.Patch() {
				if k, ok := preNumber(e.Prerelease(), in.Pre); ok && k >= n {
					n = k + 1
				}
			}
		}
		pv, perr := v.SetPrerelease(fmt.Sprintf("%s.%d", in.Pre, n))
		if perr != nil {
			return nil, bump, reason, fmt.Errorf("--pre %q: %w", in.Pre, perr)
		}
		v = &pv
	}
	for _, last := range []*semver.Version{in.LastStable, in.LastAny} {
		if last != nil && !v.GreaterThan(last) {
			return nil, bump, reason, fmt.Errorf("version %s is not above the last release %s", v, last)
		}
	}
	for _, e := range in.Existing {
		if e.Equal(v) {
			return nil, bump, reason, fmt.Errorf("version %s is already tagged", v)
		}
	}
	return v, bump, reason, nil
}

// preNumber reads "rc.3" as 3 when id is "rc".
func preNumber(pre, id string) (int, bool) {
	rest, ok := strings.CutPrefix(pre, id+".")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil
}

func bumpBetween(prev, next *semver.Version) Bump {
	switch {
	case prev == nil:
		return NoBump
	case next.Major() != prev.Major():
		return Major
	case next.Minor() != prev.Minor():
		return Minor
	}
	return Patch
}
