package build

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// Revision is what the build is of: the commit, its time (the
// SOURCE_DATE_EPOCH of everything built) and the meta-package version.
type Revision struct {
	Commit string    `json:"commit"`
	Time   time.Time `json:"time"`
	// Version is the release version when the commit is tagged (or
	// build.metapackage.version says), else <last version>+<commits>.g<sha>.
	Version string `json:"version"`
	// Release is true for a tagged (or configured) version, false for a snapshot.
	Release bool `json:"release"`
}

// BuildID is the version made safe for a key or a path: characters other
// than letters, digits, '.', '_' and '-' become '-'.
func (r Revision) BuildID() string { return handoff.BuildID(r.Version) }

var describeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(.*)-(\d+)-g([0-9a-f]+)$`) })

// SnapshotVersion turns `git describe --long` output ("v1.2.0-5-gabc1234")
// into the snapshot version "1.2.0+5.gabc1234"; prefix is the tag prefix.
// An exact tag ("v1.2.0-0-gabc1234") is the release "1.2.0".
func SnapshotVersion(describe, prefix string) (version string, release bool, err error) {
	m := describeRE().FindStringSubmatch(describe)
	if m == nil {
		return "", false, fmt.Errorf("git describe said %q, not TAG-COUNT-gSHA", describe)
	}
	base := strings.TrimPrefix(m[1], prefix)
	if m[2] == "0" {
		return base, true, nil
	}
	return fmt.Sprintf("%s+%s.g%s", base, m[2], m[3]), false, nil
}

var versionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`) })

// CheckVersion says whether v can be both a deb and an rpm version: it
// starts with a digit and has only letters, digits and . + ~ (no '-',
// which rpm forbids, no ':', which is the epoch).
func CheckVersion(v string) error {
	if !versionRE().MatchString(v) {
		return fmt.Errorf("version %q cannot be a package version: it must start with a digit and contain only letters, digits and . + ~", v)
	}
	return nil
}

// resolveRevision asks git about HEAD. SOURCE_DATE_EPOCH from the
// environment wins over the commit time, and build.metapackage.version (or
// a CI tag build) over git describe.
func resolveRevision(ctx context.Context, repo string, env ci.Env, ciTag, override, prefix string, deepen bool, warn func(string, ...any)) (Revision, error) {
	g := gitops.Open(repo)
	var rev Revision
	commit, gitErr := g.Run(ctx, "rev-parse", "HEAD")
	if gitErr == nil {
		rev.Commit = commit
	}
	if s := ci.Get(env, "SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return rev, errs.Usagef("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970", s)
		}
		rev.Time = time.Unix(n, 0).UTC()
	} else if gitErr == nil {
		ct, err := g.Run(ctx, "log", "-1", "--format=%ct", "HEAD")
		if err != nil {
			return rev, errs.Infraf("commit time: %w", err)
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(ct), 10, 64)
		rev.Time = time.Unix(n, 0).UTC()
	}
	switch {
	case override != "":
		rev.Version, rev.Release = strings.TrimPrefix(override, prefix), true
	case ciTag != "" && strings.HasPrefix(ciTag, prefix):
		rev.Version, rev.Release = strings.TrimPrefix(ciTag, prefix), true
	case gitErr != nil:
		return rev, errs.New(errs.Usage, fmt.Errorf("%s is not a git repository, so the build has no version: %w", repo, gitErr),
			"run pipeline build in a git checkout, or set build.metapackage.version and SOURCE_DATE_EPOCH")
	default:
		describe := []string{"describe", "--tags", "--long", "--abbrev=7", "--match", prefix + "[0-9]*", "HEAD"}
		d, err := g.Run(ctx, describe...)
		if shallow, _ := g.IsShallow(ctx); err != nil && shallow {
			// A shallow clone (GitLab's depth 20) may stop short of the last
			// release tag: deepen until it is in reach.
			if !deepen {
				warn("shallow clone: no release tag within its history, so the version counts from 0.0.0 (a real run deepens the clone first)")
			} else if derr := g.DeepenUntil(ctx, "origin", []string{"+refs/tags/*:refs/tags/*"}, func(ctx context.Context) (bool, error) {
				_, e := g.Run(ctx, describe...)
				return e == nil, nil
			}); derr == nil {
				d, err = g.Run(ctx, describe...)
			} else {
				warn("shallow clone: could not deepen it to the last release tag (%v); the version counts from 0.0.0", derr)
			}
		}
		if err == nil {
			rev.Version, rev.Release, err = SnapshotVersion(d, prefix)
			if err != nil {
				return rev, errs.Infraf("%w", err)
			}
		} else {
			// No release tag in reach (none yet, or a shallow clone that
			// does not reach it): count from 0.0.0.
			count, cerr := g.Run(ctx, "rev-list", "--count", "HEAD")
			if cerr != nil {
				return rev, errs.Infraf("count commits: %w", cerr)
			}
			rev.Version = fmt.Sprintf("0.0.0+%s.g%.7s", strings.TrimSpace(count), rev.Commit)
		}
	}
	if rev.Time.IsZero() {
		return rev, errs.Usagef("no commit time for SOURCE_DATE_EPOCH: set SOURCE_DATE_EPOCH or build in a git checkout")
	}
	if err := CheckVersion(rev.Version); err != nil {
		return rev, errs.New(errs.Usage, err, "use a tag like "+prefix+"1.2.0, or fix build.metapackage.version")
	}
	return rev, nil
}
