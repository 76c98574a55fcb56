package release

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/internal/text"
	"github.com/pipeline-ci/pipeline/release"
)

// planKind says what a run is doing.
type planKind int

const (
	// planNew: a new release from the changes since the last one.
	planNew planKind = iota
	// planPending: a release commit (ours, with its trailers) is on the
	// branch but not tagged yet — a merged release MR, or a run that died
	// after pushing it. Finish it.
	planPending
	// planFinish: the last release tag is ours but its forge release is
	// missing or the tag was never pushed — a run that died after tagging.
	planFinish
)

// state is what the plan step found in git and on the forge.
type state struct {
	kind   planKind
	reason string
	head   string // HEAD when the run started
	// target is the commit to tag: the release commit once made (new), or
	// the one found (pending, finish).
	target string
	// milestone is the title of the milestone this release closes.
	milestone string
	current   *gitops.Milestone
}

// makePlan reads tags, history and the forge and decides.
func (r *run) makePlan(ctx context.Context) error {
	head := r.head
	r.state = &state{head: head}
	prefix := r.cfg.TagPrefix

	refs, err := r.tagRefs(ctx)
	if err != nil {
		return err
	}
	if r.shallow && r.remote != "" {
		// A CI clone may lack the tags (a shallow fetch follows only those
		// inside its history): take the remote's list too.
		if refs, err = r.remoteTags(ctx, refs); err != nil {
			return err
		}
	}
	cands, ignored := release.SortTags(refs, prefix, r.line)
	r.data.IgnoredTags = ignored
	if len(ignored) > 0 {
		r.env.Log.Infof("ignored %d tag(s) that are not %q + a semantic version: %s", len(ignored), prefix, listSome(ignored, 5))
	}
	lastAny, lastStable, commits, err := r.releasesAndRange(ctx, cands, head)
	if err != nil {
		return err
	}
	var existing []*semver.Version
	for _, t := range cands {
		existing = append(existing, t.Version)
	}
	// Versions tagged on other lines count too: never tag a version twice.
	if r.line != nil {
		all, _ := release.SortTags(refs, prefix, nil)
		existing = existing[:0]
		for _, t := range all {
			existing = append(existing, t.Version)
		}
	}

	r.env.Log.Infof("%d commit(s) since %s", len(commits), tagName(lastStable, "the first commit"))

	initial, err := semver.StrictNewVersion(r.cfg.InitialVersion)
	if err != nil {
		return errs.New(errs.Usage, fmt.Errorf("release.initial_version %q: %w", r.cfg.InitialVersion, err), "give a version such as 0.1.0")
	}
	policy, err := Policy(r.cfg)
	if err != nil {
		return err
	}
	in := release.PlanInput{
		Policy: policy, Prefix: prefix, LastStable: lastStable, LastAny: lastAny, Existing: existing,
		Commits: commits, Head: head, Labels: r.labels(), Links: r.links,
		Pre: r.opts.Pre, Line: r.line, Initial: initial,
	}
	if err := r.findUnfinished(ctx, &in, cands); err != nil {
		return err
	}
	if r.state.kind == planNew {
		if err := r.requested(&in); err != nil {
			return err
		}
		if in.Version != nil && lastAny != nil && in.Version.Equal(lastAny.Version) {
			r.plan = &release.Plan{Reason: lastAny.Version.String() + " is already released (" + lastAny.Name + ")", Counts: map[string]int{}}
			return nil
		}
	}
	if err := r.readForge(ctx, &in); err != nil {
		return err
	}
	p, err := release.MakePlan(in)
	if err != nil {
		return errs.New(errs.Usage, fmt.Errorf("release: %w", err), "change --bump, --version or --pre")
	}
	for _, n := range p.Overrides {
		r.env.Log.Infof("MR %s: its description's %s block replaces the message it was merged with", fmt.Sprintf(orDefault(r.links.MRRef, "!%d"), n), release.OverrideBegin)
	}
	if len(p.Reverted) > 0 {
		r.env.Log.Infof("%d change(s) left out: reverted within the range", len(p.Reverted))
	}
	r.plan = p
	return nil
}

// Policy turns release.rules, release.revert_bump and release.sections into
// the release package's Policy.
func Policy(cfg config.Release) (*release.Policy, error) {
	p := release.DefaultPolicy()
	if cfg.RevertBump != "" {
		b, err := parseRuleBump(cfg.RevertBump)
		if err != nil {
			return nil, errs.New(errs.Usage, fmt.Errorf("release.revert_bump: %w", err), "give major, minor, patch or none")
		}
		p.RevertReleased = b
	}
	for i, c := range cfg.Rules {
		rule := release.Rule{Type: c.Type, Scope: c.Scope, Breaking: c.Breaking}
		b, err := parseRuleBump(c.Bump)
		if err != nil {
			return nil, errs.New(errs.Usage, fmt.Errorf("release.rules[%d].bump: %w", i, err), "give major, minor, patch or none")
		}
		rule.Bump = b
		if c.Subject != "" {
			re, err := regexp.Compile(c.Subject)
			if err != nil {
				return nil, errs.New(errs.Usage, fmt.Errorf("release.rules[%d].subject: %w", i, err), "give a regular expression")
			}
			rule.Subject = re
		}
		p.Rules = append(p.Rules, rule)
	}
	for _, s := range cfg.Sections {
		p.Sections = append(p.Sections, release.NoteSection{Title: s.Title, Types: s.Types})
	}
	return p, nil
}

func parseRuleBump(s string) (release.Bump, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return release.NoBump, nil
	}
	b, err := release.ParseBump(s)
	if err == nil && b == release.NoBump {
		err = fmt.Errorf("bump %q: want major, minor, patch or none", s)
	}
	return b, err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// requested reads --bump and --version.
func (r *run) requested(in *release.PlanInput) error {
	b, err := release.ParseBump(r.opts.Bump)
	if err != nil {
		return errs.New(errs.Usage, fmt.Errorf("--bump: %w", err), "give --bump major, minor or patch")
	}
	in.Forced = b
	if r.opts.Version != "" {
		if b != release.NoBump {
			return errs.Usagef("--bump and --version both given: give one")
		}
		v, err := semver.StrictNewVersion(strings.TrimPrefix(r.opts.Version, r.cfg.TagPrefix))
		if err != nil {
			return errs.New(errs.Usage, fmt.Errorf("--version %q: %w", r.opts.Version, err), "give a semantic version such as 1.4.0")
		}
		in.Version = v
	}
	return nil
}

// findUnfinished looks for a release an earlier run left half done.
func (r *run) findUnfinished(ctx context.Context, in *release.PlanInput, cands []release.Tag) error {
	// A release commit of ours after the last tag: commit (and push, or MR
	// merge) done, tag not yet.
	for _, c := range in.Commits {
		j, ok := release.ReadJournal(c.Message)
		if !ok {
			continue
		}
		v, err := semver.StrictNewVersion(j.Version)
		if err != nil || (in.LastAny != nil && !v.GreaterThan(in.LastAny.Version)) {
			continue
		}
		r.state.kind, r.state.target, r.state.milestone = planPending, c.SHA, j.Milestone
		r.state.reason = fmt.Sprintf("finishing %s from its release commit %s", j.Version, short(c.SHA))
		// Only what the release commit contains belongs to this release.
		keep := release.Reachable(in.Commits, c.SHA)
		var cs []release.Commit
		for _, x := range in.Commits {
			if keep[x.SHA] {
				cs = append(cs, x)
			}
		}
		in.Commits, in.Head = cs, c.SHA
		in.Fixed, in.FixedReason = v, r.state.reason
		return nil
	}
	// The last tag is ours (annotated with our trailers) but incomplete.
	last := in.LastAny
	if last == nil {
		return nil
	}
	j, ours, err := r.journal(ctx, last.Name)
	if err != nil || !ours {
		return err
	}
	complete, why, err := r.complete(ctx, last)
	if err != nil || complete {
		return err
	}
	r.state.kind, r.state.target, r.state.milestone = planFinish, last.SHA, j.Milestone
	r.state.reason = fmt.Sprintf("finishing %s, tagged but %s", last.Version, why)
	// Its notes: from the release before it.
	var prev *release.Tag
	for i := range cands {
		t := &cands[i]
		if !t.Version.LessThan(last.Version) || (last.Version.Prerelease() == "" && t.Version.Prerelease() != "") {
			continue
		}
		if ok, _ := r.git.IsAncestor(ctx, t.SHA, last.SHA); ok {
			prev = t
			break
		}
	}
	since := ""
	if prev != nil {
		since = prev.SHA
	}
	commits, err := r.walk(ctx, last.SHA, since)
	if err != nil {
		return err
	}
	in.Commits, in.Head, in.LastStable, in.LastAny = commits, last.SHA, prev, prev
	in.Fixed, in.FixedReason = last.Version, r.state.reason
	return nil
}

// complete reports whether the release of tag t is complete: the tag is
// on the remote, and the forge has its release.
func (r *run) complete(ctx context.Context, t *release.Tag) (bool, string, error) {
	if r.remote != "" {
		sha, err := r.git.RemoteRef(ctx, r.remote, "refs/tags/"+t.Name)
		if err != nil {
			return false, "", errs.Infraf("release: look up tag %s on %s: %w", t.Name, r.remote, err)
		}
		if sha == "" {
			return false, "the tag was never pushed", nil
		}
	}
	if gitops.Can(r.forge).Writes {
		rel, err := r.forge.GetRelease(ctx, t.Name)
		if err != nil {
			return false, "", forgeError("look up the forge release of "+t.Name, err)
		}
		if rel == nil {
			return false, "its forge release is missing", nil
		}
	}
	return true, "", nil
}

// tagRefs lists every tag with the commit it points at.
func (r *run) tagRefs(ctx context.Context) ([]release.TagRef, error) {
	if refs, ok := r.filesTags(); ok {
		return refs, nil
	}
	out, err := r.git.Run(ctx, "for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)", "refs/tags")
	if err != nil {
		return nil, errs.Infraf("release: list tags: %w", err)
	}
	var refs []release.TagRef
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\x00")
		if len(f) != 3 {
			continue
		}
		sha := f[1]
		if f[2] != "" {
			sha = f[2] // annotated: the commit it peels to
		}
		refs = append(refs, release.TagRef{Name: f[0], SHA: sha})
	}
	return refs, nil
}

// journal reads the release trailers of tag name; ok is false for a tag
// that is not ours (lightweight, or annotated without them). Only the last
// release's tag is read: reading them all costs more than the whole plan.
func (r *run) journal(ctx context.Context, name string) (release.Journal, bool, error) {
	if j, ours, ok := r.filesJournal(name); ok {
		return j, ours, nil
	}
	// Trailers joined by US on one line (git 2.39 ignores key= here, so
	// they are picked out below).
	out, err := r.git.Run(ctx, "for-each-ref", "--format=%(contents:trailers:only,unfold,separator=%x1f)", "refs/tags/"+name)
	if err != nil {
		return release.Journal{}, false, errs.Infraf("release: read tag %s: %w", name, err)
	}
	var j release.Journal
	for _, t := range strings.Split(out, "\x1f") {
		k, v, _ := strings.Cut(t, ":")
		switch strings.TrimSpace(k) {
		case release.TrailerVersion:
			j.Version = strings.TrimSpace(v)
		case release.TrailerMilestone:
			j.Milestone = strings.TrimSpace(v)
		}
	}
	return j, j.Version != "", nil
}

// remoteTags adds the remote's tags that are not here, with the commits
// they point at (ls-remote: one call, no objects fetched).
func (r *run) remoteTags(ctx context.Context, local []release.TagRef) ([]release.TagRef, error) {
	out, err := r.git.Run(ctx, "ls-remote", "--tags", "--end-of-options", r.remote)
	if err != nil {
		return nil, errs.Infraf("release: list the tags of %s: %w", r.remote, err)
	}
	have := map[string]bool{}
	for _, t := range local {
		have[t.Name] = true
	}
	peeled := map[string]string{}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		sha, ref, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		name, ok := strings.CutPrefix(ref, "refs/tags/")
		if !ok {
			continue
		}
		if base, isPeeled := strings.CutSuffix(name, "^{}"); isPeeled {
			peeled[base] = sha
			continue
		}
		if _, seen := peeled[name]; !seen {
			peeled[name] = sha
		}
		names = append(names, name)
	}
	for _, n := range names {
		if !have[n] {
			local = append(local, release.TagRef{Name: n, SHA: peeled[n]})
		}
	}
	return local, nil
}

// lastReleases finds the highest release tags that are ancestors of head:
// the last of any kind, and the last stable one. A shallow clone is
// deepened only as far as that tag.
func (r *run) lastReleases(ctx context.Context, cands []release.Tag, head string) (lastAny, lastStable *release.Tag, err error) {
	shallow := r.shallow
	for i := range cands {
		t := &cands[i]
		ok, err := r.reaches(ctx, t, shallow)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		if lastAny == nil {
			lastAny = t
		}
		if t.Version.Prerelease() == "" {
			lastStable = t
			break
		}
	}
	// No stable release reachable: the walk covers the whole history, so a
	// shallow clone must be made whole.
	if lastStable == nil && shallow && r.remote != "" {
		r.env.Log.Info("no release tag yet: fetching the whole history of the shallow clone")
		err := r.git.DeepenUntil(ctx, r.remote, nil, func(ctx context.Context) (bool, error) {
			s, err := r.git.IsShallow(ctx)
			return !s, err
		})
		if err != nil && !errors.Is(err, gitops.ErrNotInHistory) {
			return nil, nil, errs.Infraf("release: unshallow: %w", err)
		}
	}
	return lastAny, lastStable, nil
}

// reaches reports whether tag t is an ancestor of HEAD, deepening a
// shallow clone up to it when needed.
func (r *run) reaches(ctx context.Context, t *release.Tag, shallow bool) (bool, error) {
	if shallow && r.remote != "" {
		err := r.git.DeepenToTag(ctx, r.remote, t.Name)
		if err == nil {
			return true, nil
		}
		if errors.Is(err, gitops.ErrNotInHistory) {
			return false, nil
		}
		return false, errs.Infraf("release: deepen the shallow clone to %s: %w", t.Name, err)
	}
	// A tag whose commit is missing (fetched without its history) is not
	// an ancestor: git answers with an error rather than "no".
	ok, err := r.git.IsAncestor(ctx, t.SHA, r.head)
	if err != nil {
		if r.git.Exists(ctx, t.SHA) {
			return false, errs.Infraf("release: is %s an ancestor of HEAD: %w", t.Name, err)
		}
		return false, nil
	}
	return ok, nil
}

// walk streams `git log -z` of head ^since (the whole history of head when
// since is empty) through the byte-exact parser.
func (r *run) walk(ctx context.Context, head, since string) ([]release.Commit, error) {
	return Walk(ctx, r.git, head, since)
}

// Walk reads the commits reachable from head and not from since, newest
// first, streaming git's output: it never holds the raw log in memory and
// never splits a record.
func Walk(ctx context.Context, g *gitops.Git, head, since string) ([]release.Commit, error) {
	args := []string{"log", "-z", release.LogFormat, head}
	if since != "" {
		args = append(args, "^"+since)
	}
	args = append(args, "--")
	cmd := proc.Command(ctx, "git", args...)
	cmd.Dir = g.Dir
	// GIT_FLUSH=0: git flushes its output after every commit when it
	// writes to a pipe, a write and a wake-up of ours per commit; fully
	// buffered, the 2,000 commits of a weekly range arrive in a few dozen
	// writes.
	cmd.Env = append(append(cmd.Environ(), g.Env...), "GIT_FLUSH=0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, errs.Infraf("release: git log: %w", err)
	}
	commits, perr := release.ParseLog(out)
	if perr != nil {
		_, _ = io.Copy(io.Discard, out)
	}
	werr := cmd.Wait()
	if werr != nil {
		return nil, errs.Infraf("release: git %s: %w: %s", strings.Join(args, " "), werr, strings.TrimSpace(stderr.String()))
	}
	if perr != nil {
		return nil, errs.Infraf("release: %w", perr)
	}
	return commits, nil
}

func (r *run) labels() release.Labels {
	l := release.Labels{}
	add := func(names []string, k release.Kind) {
		for _, n := range names {
			l[strings.ToLower(n)] = k
		}
	}
	add(r.cfg.Labels.Performance, release.Performance)
	add(r.cfg.Labels.Fix, release.Fix)
	add(r.cfg.Labels.Feature, release.Feature)
	add(r.cfg.Labels.Breaking, release.Breaking)
	return l
}

// readForge fills in the MRs merged and the issues closed in the range,
// and the current milestone.
func (r *run) readForge(ctx context.Context, in *release.PlanInput) error {
	if !gitops.Can(r.forge).Writes {
		return nil
	}
	inRange := make(map[string]bool, len(in.Commits))
	var oldest time.Time
	for _, c := range in.Commits {
		inRange[c.SHA] = true
		if oldest.IsZero() || c.Time.Before(oldest) {
			oldest = c.Time
		}
	}
	var since time.Time
	if in.LastStable != nil && !oldest.IsZero() {
		since = oldest.Add(-time.Hour) // merged after the first commit of the range
	}
	mrs, err := r.forge.MergedMergeRequests(ctx, r.branch, since)
	if err != nil {
		return forgeError("list merged MRs", err)
	}
	for _, m := range mrs {
		if !inRange[m.MergeCommitSHA] && !inRange[m.SquashCommitSHA] && !inRange[m.SHA] {
			continue
		}
		closes, err := r.forge.IssuesClosedBy(ctx, m.Number)
		if err != nil {
			return forgeError(fmt.Sprintf("issues closed by MR %d", m.Number), err)
		}
		rm := release.MergeRequest{Number: m.Number, Title: m.Title, Labels: m.Labels, URL: m.WebURL,
			MergeSHA: m.MergeCommitSHA, SquashSHA: m.SquashCommitSHA, HeadSHA: m.SHA, MergedAt: m.MergedAt,
			Description: m.Description}
		for _, is := range closes {
			rm.Closes = append(rm.Closes, release.Issue{Number: is.Number, Title: is.Title, URL: is.WebURL})
		}
		in.MergeRequests = append(in.MergeRequests, rm)
	}
	if !r.cfg.Milestone.Enabled {
		return nil
	}
	ms, err := r.forge.ListMilestones(ctx, "active")
	if err != nil {
		return forgeError("list milestones", err)
	}
	if r.state.milestone != "" {
		// A re-run: the milestone is the one the release commit names, even
		// if it is closed by now.
		all, err := r.forge.ListMilestones(ctx, "all")
		if err != nil {
			return forgeError("list milestones", err)
		}
		ms = all
	}
	r.state.current = currentMilestone(ms, r.state.milestone)
	if r.state.current == nil {
		return nil
	}
	r.state.milestone = r.state.current.Title
	issues, _, err := r.forge.MilestoneItems(ctx, r.state.current.ID)
	if err != nil {
		return forgeError("items of milestone "+r.state.current.Title, err)
	}
	for _, is := range issues {
		if is.State == "closed" {
			in.MilestoneIssues = append(in.MilestoneIssues, release.Issue{Number: is.Number, Title: is.Title, URL: is.WebURL})
		}
	}
	return nil
}

// currentMilestone is the milestone named title, or else the open one due
// first (one without a due date last).
func currentMilestone(ms []gitops.Milestone, title string) *gitops.Milestone {
	if title != "" {
		for i := range ms {
			if ms[i].Title == title {
				return &ms[i]
			}
		}
		return nil
	}
	var open []gitops.Milestone
	for _, m := range ms {
		if m.State == "active" || m.State == "open" {
			open = append(open, m)
		}
	}
	if len(open) == 0 {
		return nil
	}
	sort.SliceStable(open, func(i, j int) bool {
		a, b := open[i].DueDate, open[j].DueDate
		if a.IsZero() != b.IsZero() {
			return !a.IsZero()
		}
		return a.Before(b)
	})
	return &open[0]
}

func tagName(t *release.Tag, none string) string {
	if t == nil {
		return none
	}
	return t.Name
}

func short(sha string) string { return text.Short(sha, 8) }

func listSome(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}
