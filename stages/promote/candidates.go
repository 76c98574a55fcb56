package promote

import (
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
)

// Candidate is a commit of the source branch (staging) that is not on the
// target branch (master) yet.
type Candidate struct {
	SHA     string `json:"sha"`
	Subject string `json:"subject"`
	Author  string `json:"author"`
	// Merge is true for a merge commit on staging's first-parent line
	// (an MR merged with a merge commit): it is picked against its first
	// parent.
	Merge bool `json:"merge,omitempty"`

	time time.Time // commit time, to look up its merge request
	// onTarget counts the commits of source before this one that target
	// already holds (promoted by an earlier run): the culprit comment says
	// so, the same on every run.
	onTarget int
}

// Pending returns the commits of source (staging's first-parent line, oldest
// first) that target (master's commits since the merge base) does not
// already hold. A commit counts as held when a commit on target that
// promote made names it (see Provenance; short shas of at least 7 digits
// match by prefix), or when git cherry found the same patch on target
// (applied). Nothing else is remembered between runs: master itself is the
// record, so a re-run recomputes everything.
func Pending(source, target []gitops.Commit, applied map[string]bool) []Candidate {
	var named []string
	for _, c := range target {
		if p := Provenance(c); p != "" {
			named = append(named, p)
		}
	}
	full := map[string]bool{}
	var short []string
	for _, n := range named {
		n = strings.ToLower(strings.TrimSpace(n))
		if len(n) >= 40 {
			full[n] = true
		} else if len(n) >= 7 {
			short = append(short, n)
		}
	}
	held := func(sha string) bool {
		if full[sha] || applied[sha] {
			return true
		}
		for _, s := range short {
			if strings.HasPrefix(sha, s) {
				return true
			}
		}
		return false
	}
	var out []Candidate
	onTarget := 0
	for _, c := range source {
		if held(c.SHA) {
			onTarget++
			continue
		}
		out = append(out, Candidate{SHA: c.SHA, Subject: c.Subject, Author: c.Author, Merge: len(c.Parents) > 1, onTarget: onTarget})
	}
	return out
}

// Provenance is the staging commit that c, a commit on the target branch,
// was promoted from, or "" when promote did not make c. Promote ends the
// message of every pick with "(cherry picked from commit X)" (-x) and then
// a "Promoted-from: X" trailer: only the last of each counts, and only
// when they name the same commit. A developer's message that carries such
// lines of its own (copied from master, or written to make a commit look
// promoted) is picked like any other, and the pick's last lines then name
// that commit, not the one its message mentions.
func Provenance(c gitops.Commit) string {
	from := c.Trailer(gitops.TrailerPromotedFrom)
	if len(from) == 0 || len(c.CherryPickedFrom) == 0 {
		return ""
	}
	p := strings.ToLower(strings.TrimSpace(from[len(from)-1]))
	x := strings.ToLower(c.CherryPickedFrom[len(c.CherryPickedFrom)-1])
	if len(p) < 7 || !(strings.HasPrefix(p, x) || strings.HasPrefix(x, p)) {
		return ""
	}
	return p
}
