package release

import (
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// PlanInput is every fact the plan is made from; the stage gathers them
// from git and the forge.
type PlanInput struct {
	Prefix string
	// LastStable and LastAny are the last releases reachable from Head on
	// this line (LastAny is a pre-release above LastStable, or the same).
	LastStable, LastAny *Tag
	// Existing are all release versions tagged anywhere.
	Existing []*semver.Version
	// Commits are the range LastStable..Head (the whole history when there
	// is no release yet), newest first.
	Commits []Commit
	Head    string
	// MergeRequests merged into the branch in the range; MilestoneIssues
	// are the issues closed in the current milestone.
	MergeRequests   []MergeRequest
	MilestoneIssues []Issue
	Labels          Labels
	Links           Links
	// Policy holds the bump rules and notes' sections; nil is DefaultPolicy.
	Policy *Policy

	Forced  Bump            // --bump
	Version *semver.Version // --version
	Pre     string          // --pre
	Line    *Line           // maintenance line
	Initial *semver.Version
	// Fixed is a version already decided by an earlier run (its release
	// commit or tag exists): the plan is made for it, without bump rules.
	Fixed *semver.Version
	// FixedReason says where Fixed comes from.
	FixedReason string
}

// Plan is the decision: which version, why, and what it contains.
type Plan struct {
	// Releasable is false when nothing since the last release asks for
	// one: the stage says so and writes nothing.
	Releasable  bool   `json:"releasable"`
	Version     string `json:"version,omitempty"`
	Tag         string `json:"tag,omitempty"`
	Previous    string `json:"previous,omitempty"`
	PreviousTag string `json:"previous_tag,omitempty"`
	Bump        Bump   `json:"bump"`
	Reason      string `json:"reason"`
	// Changes are what the notes list: since the last release of any kind
	// for a pre-release, since the last stable release otherwise.
	Changes []Change `json:"changes"`
	// ClosedIssues are issues closed in the milestone that no change
	// names.
	ClosedIssues []Issue `json:"closed_issues,omitempty"`
	// Counts per kind, for the summary.
	Counts map[string]int `json:"counts"`
	// Reverted are the changes left out because they were reverted in the
	// range, and their reverts.
	Reverted []Change `json:"reverted,omitempty"`
	// Overrides are the MRs whose description's override block replaced
	// the message they were merged with.
	Overrides []int `json:"overrides,omitempty"`

	version *semver.Version
	policy  *Policy
}

// SemVer returns the planned version.
func (p *Plan) SemVer() *semver.Version { return p.version }

// MakePlan decides the next release from in. An error is a request that
// cannot be honoured (bad --version, --bump outside a maintenance line).
func MakePlan(in PlanInput) (*Plan, error) {
	if in.Policy == nil {
		in.Policy = DefaultPolicy()
	}
	all, reverted := ChangesAndReverts(ChangesInput{Commits: in.Commits, Head: in.Head, MergeRequests: in.MergeRequests, Labels: in.Labels, Links: in.Links, Policy: in.Policy})
	// Our own release commits are not changes: filter in place.
	kept := all[:0]
	for _, c := range all {
		if !c.Release {
			kept = append(kept, c)
		}
	}
	all = kept

	// Changes already shipped in a pre-release since the last stable one.
	shipped := map[string]bool{}
	if in.LastAny != nil && in.LastStable != nil && in.LastAny.SHA != in.LastStable.SHA {
		shipped = Reachable(in.Commits, in.LastAny.SHA)
	} else if in.LastAny != nil && in.LastStable == nil {
		shipped = Reachable(in.Commits, in.LastAny.SHA)
	}
	fresh := make([]Change, 0, len(all))
	bump := NoBump
	var why *Change
	for i, c := range all {
		if c.Bump > bump {
			bump, why = c.Bump, &all[i]
		}
		if !shipped[c.Commit] {
			fresh = append(fresh, c)
		}
	}
	freshBump := NoBump
	for _, c := range fresh {
		if c.Bump > freshBump {
			freshBump = c.Bump
		}
	}

	p := &Plan{Counts: map[string]int{}, policy: in.Policy, Reverted: reverted}
	for _, c := range all {
		if c.Override && (len(p.Overrides) == 0 || p.Overrides[len(p.Overrides)-1] != c.MergeRequest.Number) {
			p.Overrides = append(p.Overrides, c.MergeRequest.Number)
		}
	}
	if in.LastAny != nil {
		p.Previous, p.PreviousTag = in.LastAny.Version.String(), in.LastAny.Name
	}
	var stable, any *semver.Version
	if in.LastStable != nil {
		stable = in.LastStable.Version
	}
	if in.LastAny != nil {
		any = in.LastAny.Version
	}
	// A stable release right after pre-releases of the same version
	// promotes them even without new changes.
	promoting := in.Pre == "" && any != nil && any.Prerelease() != "" && bump != NoBump
	if in.Fixed != nil {
		p.Releasable = true
		p.version = in.Fixed
		p.Version, p.Tag, p.Bump = in.Fixed.String(), TagName(in.Prefix, in.Fixed), bumpBetween(stable, in.Fixed)
		p.Reason = in.FixedReason
		p.Changes = all
		if in.Fixed.Prerelease() != "" {
			p.Changes = fresh
		}
		p.ClosedIssues = unlinkedIssues(p.Changes, in.MilestoneIssues, in.Links)
		p.count()
		return p, nil
	}
	requested := in.Forced != NoBump || in.Version != nil
	if !requested && freshBump == NoBump && !promoting {
		p.Bump = NoBump
		p.Changes = fresh
		p.Reason = noReleaseReason(fresh, in.LastAny)
		p.count()
		return p, nil
	}
	v, b, reasons, err := Next(NextInput{
		LastStable: stable, LastAny: any, Bump: bump, Forced: in.Forced, Version: in.Version,
		Pre: in.Pre, Existing: in.Existing, Line: in.Line, Initial: in.Initial,
	})
	if err != nil {
		return nil, err
	}
	if in.Forced == NoBump && in.Version == nil && why != nil && in.LastStable != nil {
		reasons = append([]string{fmt.Sprintf("%s from %s (%s: %s)", bump, why.Reason, why.label(), why.Description)}, reasons...)
	}
	if len(reverted) > 0 {
		reasons = append(reasons, fmt.Sprintf("%d change(s) left out: reverted in the range", len(reverted)))
	}
	if promoting && freshBump == NoBump {
		reasons = append(reasons, "promotes "+in.LastAny.Name)
	}
	p.Releasable = true
	p.version = v
	p.Version, p.Tag, p.Bump = v.String(), TagName(in.Prefix, v), b
	p.Reason = strings.Join(reasons, "; ")
	if in.Pre != "" {
		p.Changes = fresh
	} else {
		p.Changes = all
		// The final release's notes cover everything since the last stable.
		if in.LastStable != nil {
			p.Previous, p.PreviousTag = in.LastStable.Version.String(), in.LastStable.Name
		}
	}
	p.ClosedIssues = unlinkedIssues(p.Changes, in.MilestoneIssues, in.Links)
	p.count()
	return p, nil
}

func (p *Plan) count() {
	for _, c := range p.Changes {
		p.Counts[c.Kind.String()]++
	}
}

func noReleaseReason(changes []Change, last *Tag) string {
	since := "in the history"
	if last != nil {
		since = "since " + last.Name
	}
	if len(changes) == 0 {
		return "no commits " + since
	}
	return fmt.Sprintf("%d change(s) %s, none of them asking for a release under the bump rules (release.rules)", len(changes), since)
}

// label names the change's kind in the plan's reason: "breaking", "feature",
// "fix", "performance", or else its type and scope ("chore(deps)").
func (c *Change) label() string {
	if c.Kind != Other || c.Type == "" {
		return c.Kind.String()
	}
	if c.Scope != "" {
		return c.Type + "(" + c.Scope + ")"
	}
	return c.Type
}

// Reachable returns the commits of the range reachable from sha.
func Reachable(commits []Commit, sha string) map[string]bool {
	byID := make(map[string]int, len(commits))
	for i, c := range commits {
		byID[c.SHA] = i
	}
	seen := map[string]bool{}
	stack := []string{sha}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, ok := byID[s]
		if !ok || seen[s] {
			continue
		}
		seen[s] = true
		stack = append(stack, commits[i].Parents...)
	}
	return seen
}

func unlinkedIssues(changes []Change, milestone []Issue, links Links) []Issue {
	named := map[int]bool{}
	for _, c := range changes {
		for _, is := range c.Issues {
			named[is.Number] = true
		}
	}
	var out []Issue
	for _, is := range milestone {
		if named[is.Number] {
			continue
		}
		named[is.Number] = true
		if is.URL == "" && links.Issue != "" {
			is.URL = sprintf(links.Issue, is.Number)
		}
		out = append(out, is)
	}
	return out
}
