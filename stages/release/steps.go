package release

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/atomicfile"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/release"
)

// step runs one step. Every step looks before it writes, so that a re-run
// after a crash at any point finds what was done and goes on.
func (r *run) step(ctx context.Context, name string) error {
	switch name {
	case StepFiles:
		return r.stepFiles(ctx)
	case StepCommit:
		return r.stepCommit(ctx)
	case StepPush:
		return r.stepPush(ctx)
	case StepMergeRequest:
		return r.stepMergeRequest(ctx)
	case StepTag:
		return r.stepTag(ctx)
	case StepPushTag:
		return r.stepPushTag(ctx)
	case StepMilestone:
		return r.stepMilestone(ctx)
	case StepComments:
		return r.stepComments(ctx)
	case StepForgeRelease:
		return r.stepForgeRelease(ctx)
	}
	return fmt.Errorf("unknown step %q", name)
}

// workdir is where the files are written and committed: the checkout
// itself in direct mode, a temporary worktree of HEAD in mr mode (the
// job's checkout stays on its branch).
func (r *run) workdir(ctx context.Context) (*gitops.Git, error) {
	if r.env.DryRun {
		return r.git, nil // reads only: the checkout will do
	}
	if r.mode != config.ReleaseModeMR {
		r.identity(ctx)
		return r.git, nil
	}
	if r.wt != nil {
		return r.wt, nil
	}
	r.identity(ctx)
	// One directory per clone, marked as ours: the run after a killed one
	// removes it (lockAndClear).
	common, err := r.git.CommonDir(ctx)
	if err != nil {
		return nil, errs.Infraf("release: %w", err)
	}
	dir := tempDir(common)
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, tempMarker)); err != nil {
			return nil, errs.New(errs.Infra, fmt.Errorf("release: %s is in the way and is not release's (no %s)", dir, tempMarker),
				"remove it and re-run")
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, errs.Infraf("release: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.Infraf("release: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, tempMarker), []byte("made by pipeline release, removed by its next run\n"), 0o600); err != nil {
		return nil, errs.Infraf("release: %w", err)
	}
	path := filepath.Join(dir, "wt")
	wt, err := r.git.WorktreeAdd(ctx, path, r.state.head)
	if err != nil {
		os.RemoveAll(dir)
		return nil, errs.Infraf("release: worktree for the release branch: %w", err)
	}
	r.wt = wt
	prev := r.cleanup
	r.cleanup = func() { //nolint:contextcheck // cleanup runs after a cancel too
		_ = r.git.WorktreeRemove(context.Background(), path)
		os.RemoveAll(dir)
		prev()
	}
	return wt, nil
}

func (r *run) stepFiles(ctx context.Context) error {
	if r.state.kind != planNew {
		r.act(Action{Step: StepFiles, Action: "changelog and version files", Status: "exists", Detail: "in release commit " + short(r.state.target)})
		return nil
	}
	g, err := r.workdir(ctx)
	if err != nil {
		return err
	}
	if r.cfg.Changelog != "" {
		p, err := r.committable(ctx, g, "release.changelog", r.cfg.Changelog)
		if err != nil {
			return err
		}
		old, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			return errs.Infraf("release: read %s: %w", r.cfg.Changelog, err)
		}
		next, changed := release.Prepend(old, r.texts.entry, r.plan.Version)
		a := Action{Step: StepFiles, Action: "prepend the " + r.plan.Version + " entry to " + r.cfg.Changelog}
		switch {
		case !changed:
			a.Status, a.Detail = "exists", "it already has an entry for "+r.plan.Version
		case r.env.DryRun:
			a.Status = "would"
		default:
			if err := writeAtomic(p, next); err != nil {
				return err
			}
			r.changed = append(r.changed, r.cfg.Changelog)
		}
		r.act(a)
	}
	for i, vf := range r.cfg.VersionFiles {
		p, err := r.committable(ctx, g, fmt.Sprintf("release.version_files[%d].path", i), vf.Path)
		if err != nil {
			return err
		}
		old, err := os.ReadFile(p)
		if err != nil && !(os.IsNotExist(err) && (vf.Kind == "" || vf.Kind == "plain")) {
			return errs.New(errs.Usage, fmt.Errorf("release.version_files[%d]: %w", i, err), "fix the path in pipeline.yaml (relative to the repository root)")
		}
		var next []byte
		switch vf.Kind {
		case "regex":
			next, err = release.SetRegex(old, vf.Pattern, r.plan.Version)
		case "yaml":
			next, err = release.SetYAMLKey(old, vf.Key, r.plan.Version)
		default:
			next = release.SetPlain(old, r.plan.Version)
		}
		if err != nil {
			return errs.New(errs.Usage, fmt.Errorf("release.version_files[%d] (%s): %w", i, vf.Path, err), "fix the pattern or key in pipeline.yaml, or the file")
		}
		a := Action{Step: StepFiles, Action: "set the version in " + vf.Path + " to " + r.plan.Version}
		switch {
		case string(next) == string(old):
			a.Status, a.Detail = "exists", "already "+r.plan.Version
		case r.env.DryRun:
			a.Status = "would"
		default:
			if err := writeAtomic(p, next); err != nil {
				return err
			}
			r.changed = append(r.changed, vf.Path)
		}
		r.act(a)
	}
	return nil
}

func (r *run) stepCommit(ctx context.Context) error {
	a := Action{Step: StepCommit, Action: "commit " + release.ReleaseSubject(r.plan.Version)}
	switch {
	case r.state.kind != planNew:
		a.Status, a.Detail = "exists", short(r.state.target)
	case r.env.DryRun:
		a.Status = "would"
	case r.uncommittable(ctx) != nil:
		return r.uncommittable(ctx)
	case len(r.pending(ctx)) == 0:
		// Nothing to write (no changelog configured, files already right):
		// the release is HEAD itself.
		r.state.target = r.state.head
		a.Status, a.Detail = "skipped", "nothing changed: the release is "+short(r.state.head)
	default:
		g, err := r.workdir(ctx)
		if err != nil {
			return err
		}
		// Same content, parent and dates give the same commit id, so a
		// re-run that redoes the commit pushes nothing new.
		when, err := g.Run(ctx, "log", "-1", "--format=%cI", r.state.head)
		if err != nil {
			return errs.Infraf("release: %w", err)
		}
		gc := *g
		gc.Env = append(append([]string(nil), g.Env...), "GIT_AUTHOR_DATE="+when, "GIT_COMMITTER_DATE="+when)
		msg := release.JournalMessage(release.ReleaseSubject(r.plan.Version), r.plan.Version, r.state.milestone)
		sha, err := gc.Commit(ctx, msg, r.pending(ctx)...)
		if err != nil {
			return errs.Infraf("release: commit: %w", err)
		}
		r.state.target = sha
		a.Detail = short(sha)
	}
	r.act(a)
	return nil
}

// pending lists the files the release manages (changelog, version files)
// that differ from HEAD in the work tree: written by this run, or by an
// earlier one that died before committing them.
func (r *run) pending(ctx context.Context) []string {
	g, err := r.workdir(ctx)
	if err != nil {
		return r.changed
	}
	var out []string
	for _, p := range r.managed() {
		if st, err := g.Run(ctx, "status", "--porcelain", "--", p); err == nil && st != "" {
			out = append(out, p)
		}
	}
	return out
}

func (r *run) managed() []string {
	var out []string
	if r.cfg.Changelog != "" {
		out = append(out, r.cfg.Changelog)
	}
	for _, vf := range r.cfg.VersionFiles {
		out = append(out, vf.Path)
	}
	return out
}

func (r *run) stepPush(ctx context.Context) error {
	ref := "refs/heads/" + r.branch
	if r.mode == config.ReleaseModeMR {
		if r.state.kind != planNew {
			r.act(Action{Step: StepPush, Action: "push the release branch", Status: "exists", Detail: "the release MR was merged into " + r.branch})
			return nil
		}
		ref = "refs/heads/" + r.mrBranch()
	}
	a := Action{Step: StepPush, Action: "push " + orHead(r.state.target, "the release commit") + " to " + r.cfg.Remote + " " + strings.TrimPrefix(ref, "refs/heads/")}
	if r.remote == "" {
		a.Status, a.Detail = "skipped", "no remote "+r.cfg.Remote+": the release stays local"
		r.act(a)
		return nil
	}
	if r.env.DryRun {
		a.Status = "would"
		r.act(a)
		return nil
	}
	have, err := r.git.RemoteRef(ctx, r.remote, ref)
	if err != nil {
		return errs.Infraf("release: read %s on %s: %w", ref, r.remote, err)
	}
	target := r.state.target
	switch {
	case have == target:
		a.Status = "exists"
	case r.mode == config.ReleaseModeMR:
		// Our own branch: replace whatever an earlier run left, but only
		// if nobody moved it since we looked.
		if err := r.git.Push(ctx, r.remote, gitops.RefUpdate{Ref: ref, New: target, Old: have}); err != nil {
			return pushError(err)
		}
	default:
		if have != "" && r.git.Exists(ctx, have) {
			if ok, _ := r.git.IsAncestor(ctx, target, have); ok {
				a.Status, a.Detail = "exists", "already in "+r.branch
				break
			}
		}
		// Fast-forward only: the remote must still be where our release
		// commit starts from.
		if have != "" {
			if ok, _ := r.git.IsAncestor(ctx, have, target); !ok {
				return errs.New(errs.Infra, fmt.Errorf("release: %s moved on %s (now %s) since the release was prepared", r.branch, r.remote, short(have)),
					"fetch, and re-run pipeline release: it plans again from the new history")
			}
		}
		if err := r.git.Push(ctx, r.remote, gitops.RefUpdate{Ref: ref, New: target, Old: have}); err != nil {
			return pushError(err)
		}
	}
	r.act(a)
	return nil
}

func (r *run) mrBranch() string { return strings.ReplaceAll(r.cfg.MRBranch, "{branch}", r.branch) }

func (r *run) stepMergeRequest(ctx context.Context) error {
	a := Action{Step: StepMergeRequest, Action: "open the release MR " + r.mrBranch() + " → " + r.branch}
	switch {
	case r.mode != config.ReleaseModeMR:
		a.Status, a.Detail = "skipped", "release.mode is direct"
	case r.state.kind != planNew:
		a.Status, a.Detail = "exists", "merged"
	case !gitops.Can(r.forge).Writes:
		a.Status, a.Detail = "skipped", "no forge: push the branch "+r.mrBranch()+" and open it by hand"
	case r.env.DryRun:
		a.Status = "would"
	default:
		in := gitops.MergeRequestInput{Title: release.ReleaseSubject(r.plan.Version), Description: r.texts.mrBody,
			SourceBranch: r.mrBranch(), TargetBranch: r.branch}
		if r.state.current != nil {
			in.MilestoneID = r.state.current.ID
		}
		mr, err := r.forge.FindMergeRequest(ctx, in.SourceBranch, in.TargetBranch)
		if err != nil {
			return forgeError("find the release MR", err)
		}
		switch {
		case mr != nil && mr.Title == in.Title && mr.Description == in.Description:
			// A re-run with nothing new: leave the MR (and its updated_at) alone.
			a.Action, a.Status = "release MR "+fmt.Sprint(mr.Number), "exists"
		case mr != nil:
			if mr, err = r.forge.UpdateMergeRequest(ctx, mr.Number, in); err != nil {
				return forgeError("update the release MR", err)
			}
			a.Action, a.Status = "update the release MR "+fmt.Sprint(mr.Number), "updated"
		default:
			if mr, err = r.forge.CreateMergeRequest(ctx, in); err != nil {
				return forgeError("open the release MR", err)
			}
		}
		a.URL = mr.WebURL
	}
	r.act(a)
	return nil
}

func (r *run) stepTag(ctx context.Context) error {
	a := Action{Step: StepTag, Action: "tag " + r.plan.Tag + " at " + orHead(r.state.target, "the release commit")}
	if r.env.DryRun {
		a.Status = "would"
		r.act(a)
		return nil
	}
	if have, err := r.git.RevParse(ctx, "refs/tags/"+r.plan.Tag); err == nil && have == r.state.target {
		a.Status = "exists"
		r.act(a)
		return nil
	}
	r.identity(ctx)
	msg := release.JournalMessage("Release "+r.plan.Version, r.plan.Version, r.state.milestone)
	if err := r.git.Tag(ctx, r.plan.Tag, r.state.target, msg); err != nil {
		if errors.Is(err, gitops.ErrTagExists) {
			return errs.New(errs.Usage, fmt.Errorf("release: %w", err), "delete the stray tag or release another version (--version)")
		}
		return errs.Infraf("release: tag: %w", err)
	}
	r.act(a)
	return nil
}

func (r *run) stepPushTag(ctx context.Context) error {
	ref := "refs/tags/" + r.plan.Tag
	a := Action{Step: StepPushTag, Action: "push tag " + r.plan.Tag + " to " + r.cfg.Remote}
	switch {
	case r.remote == "":
		a.Status, a.Detail = "skipped", "no remote "+r.cfg.Remote+": the tag stays local"
	case r.env.DryRun:
		a.Status = "would"
	default:
		have, err := r.git.RemoteRef(ctx, r.remote, ref)
		if err != nil {
			return errs.Infraf("release: read %s on %s: %w", ref, r.remote, err)
		}
		local, err := r.git.Run(ctx, "rev-parse", ref)
		if err != nil {
			return errs.Infraf("release: %w", err)
		}
		switch {
		case have == local:
			a.Status = "exists"
		case have != "":
			peeled, _ := r.git.RemoteRef(ctx, r.remote, ref+"^{}")
			if peeled != r.state.target && have != r.state.target {
				return errs.New(errs.Usage, fmt.Errorf("release: tag %s already exists on %s at another commit", r.plan.Tag, r.remote),
					"someone tagged this version by hand: delete that tag or release another version")
			}
			a.Status = "exists"
		default:
			if err := r.git.Push(ctx, r.remote, gitops.RefUpdate{Ref: ref, New: ref, Old: ""}); err != nil {
				return pushError(err)
			}
		}
	}
	r.act(a)
	return nil
}

// milestoneTitle renders the next milestone's title.
func (r *run) milestoneTitle(start, due time.Time) (string, error) {
	t, err := template.New("milestone").Parse(r.cfg.Milestone.Title)
	if err != nil {
		return "", errs.Usagef("release.milestone.title: %v", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, struct{ Start, Due time.Time }{start, due}); err != nil {
		return "", errs.Usagef("release.milestone.title: %v", err)
	}
	return strings.TrimSpace(b.String()), nil
}

func (r *run) stepMilestone(ctx context.Context) error {
	if !r.cfg.Milestone.Enabled || !gitops.Can(r.forge).Writes {
		why := "no forge"
		if !r.cfg.Milestone.Enabled {
			why = "release.milestone.enabled is false"
		}
		r.act(Action{Step: StepMilestone, Action: "rotate the milestone", Status: "skipped", Detail: why})
		return nil
	}
	cur := r.state.current
	start := r.now
	if cur != nil && !cur.DueDate.IsZero() {
		start = cur.DueDate
	}
	due := start.Add(r.cfg.Milestone.Period.D())
	title, err := r.milestoneTitle(start, due)
	if err != nil {
		return err
	}
	next := Action{Step: StepMilestone, Action: "open milestone " + title + " due " + due.Format("2006-01-02")}
	closeA := Action{Step: StepMilestone}
	if cur != nil {
		closeA.Action = "close milestone " + cur.Title
	}
	if r.env.DryRun {
		next.Status = "would"
		r.act(next)
		if cur != nil {
			closeA.Status = "would"
			r.act(closeA)
		}
		return nil
	}
	// The next one first: a crash in between leaves an extra open
	// milestone, never none.
	if title == "" || (cur != nil && title == cur.Title) {
		return errs.Usagef("release.milestone.title gives %q, the title of the current milestone: put the date in it", title)
	}
	m, err := r.forge.CreateMilestone(ctx, gitops.MilestoneInput{Title: title, StartDate: start, DueDate: due,
		Description: "Opened by pipeline release " + r.plan.Version + "."})
	if err != nil {
		return forgeError("create milestone "+title, err)
	}
	next.URL = m.WebURL
	r.act(next)
	if cur == nil {
		r.act(Action{Step: StepMilestone, Action: "close the current milestone", Status: "skipped", Detail: "no open milestone"})
		return nil
	}
	if cur.State == "closed" {
		closeA.Status = "exists"
	} else if err := r.forge.CloseMilestone(ctx, cur.ID); err != nil {
		return forgeError("close milestone "+cur.Title, err)
	}
	r.act(closeA)
	return nil
}

func (r *run) stepComments(ctx context.Context) error {
	if !r.cfg.Comment || !gitops.Can(r.forge).Writes {
		why := "no forge"
		if !r.cfg.Comment {
			why = "release.comment is off"
		}
		r.act(Action{Step: StepComments, Action: "comment on shipped MRs and issues", Status: "skipped", Detail: why})
		return nil
	}
	marker := "pipeline-release:" + r.plan.Version
	body := "Shipped in **" + r.plan.Version + "** (tag `" + r.plan.Tag + "`)."
	seenMR, seenIssue := map[int]bool{}, map[int]bool{}
	var targets []gitops.CommentTarget
	for _, c := range r.plan.Changes {
		if c.MergeRequest != nil && !seenMR[c.MergeRequest.Number] {
			seenMR[c.MergeRequest.Number] = true
			targets = append(targets, gitops.CommentTarget{MergeRequest: c.MergeRequest.Number})
		}
		for _, is := range c.Issues {
			if !seenIssue[is.Number] {
				seenIssue[is.Number] = true
				targets = append(targets, gitops.CommentTarget{Issue: is.Number})
			}
		}
	}
	for _, is := range r.plan.ClosedIssues {
		if !seenIssue[is.Number] {
			seenIssue[is.Number] = true
			targets = append(targets, gitops.CommentTarget{Issue: is.Number})
		}
	}
	for _, t := range targets {
		what := fmt.Sprintf("MR %d", t.MergeRequest)
		if t.Issue != 0 {
			what = fmt.Sprintf("issue %d", t.Issue)
		}
		a := Action{Step: StepComments, Action: "comment on " + what}
		if r.env.DryRun {
			a.Status = "would"
		} else if err := r.forge.UpsertComment(ctx, t, marker, body); err != nil {
			return forgeError("comment on "+what, err)
		}
		r.act(a)
	}
	return nil
}

func (r *run) stepForgeRelease(ctx context.Context) error {
	a := Action{Step: StepForgeRelease, Action: "publish the forge release " + r.plan.Tag}
	if !gitops.Can(r.forge).Writes {
		a.Status, a.Detail = "skipped", "no forge"
		r.act(a)
		return nil
	}
	if r.env.DryRun {
		a.Status = "would"
		r.act(a)
		return nil
	}
	rel, err := r.forge.GetRelease(ctx, r.plan.Tag)
	if err != nil {
		return forgeError("look up release "+r.plan.Tag, err)
	}
	in := gitops.ReleaseInput{Tag: r.plan.Tag, Name: r.plan.Version, Notes: r.texts.notes, Ref: r.state.target}
	for _, l := range r.notes.Artifacts {
		in.Links = append(in.Links, gitops.Link{Name: l.Name, URL: l.URL})
	}
	if rel != nil {
		// A release made earlier (by hand, or by a run with other notes)
		// is brought up to date, not left as it was.
		a.Status, a.URL = "exists", rel.WebURL
		if releaseDiffers(rel, in) {
			if rel, err = r.forge.UpdateRelease(ctx, in); err != nil {
				return forgeError("update release "+r.plan.Tag, err)
			}
			a.Status, a.URL = "updated", rel.WebURL
		}
		r.act(a)
		return nil
	}
	if rel, err = r.forge.CreateRelease(ctx, in); err != nil {
		return forgeError("create release "+r.plan.Tag, err)
	}
	a.URL = rel.WebURL
	r.act(a)
	return nil
}

// releaseDiffers: the forge release's name or notes are not what this run
// wrote, or it lacks one of the links (UpdateRelease adds links by name).
func releaseDiffers(rel *gitops.Release, in gitops.ReleaseInput) bool {
	if rel.Name != in.Name || strings.TrimSpace(rel.Notes) != strings.TrimSpace(in.Notes) {
		return true
	}
	have := map[string]bool{}
	for _, l := range rel.Links {
		have[l.Name] = true
	}
	for _, l := range in.Links {
		if !have[l.Name] {
			return true
		}
	}
	return false
}

func forgeError(what string, err error) error {
	if gitops.NamesCall(err) {
		what = "" // the forge's error names the call: once is enough
	}
	if errors.Is(err, gitops.ErrJobTokenScope) {
		return errs.New(errs.Usage, fmt.Errorf("release: %s%w", prefix(what), err), "give the job an API token in PIPELINE_TOKEN (CI_JOB_TOKEN can only create releases)")
	}
	return errs.Infraf("release: %s%w", prefix(what), err)
}

// prefix is "what: ", or "" for no what.
func prefix(what string) string {
	if what == "" {
		return ""
	}
	return what + ": "
}

func pushError(err error) error {
	if errors.Is(err, gitops.ErrPushRejected) {
		return errs.New(errs.Infra, fmt.Errorf("release: %w", err), "someone pushed meanwhile: re-run pipeline release, it plans again")
	}
	return errs.Infraf("release: %w", err)
}

// orHead names the commit sha (shortened), or none when it is not made yet.
func orHead(sha, none string) string {
	if sha == "" {
		return none
	}
	return short(sha)
}

// writeAtomic replaces path through a temporary file and a rename, so a
// crash never leaves half a changelog.
func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data); err != nil {
		return errs.Infraf("release: write %s: %w", path, err)
	}
	return nil
}
