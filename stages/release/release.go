// Package release is the `pipeline release` stage: it reads the repository
// and the forge, asks package release (pure logic) for the plan, and carries
// it out as an ordered list of steps — changelog and version files, commit,
// push, release MR or tag, milestone, comments, forge release.
//
// The stage is safe to re-run. Its state lives where a fresh CI clone sees
// it: the release commit and the annotated tag carry trailers naming the
// version and milestone, every step checks before it writes, and the forge
// release is made last, so its existence means "this release is complete".
package release

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/release"
	"github.com/pipeline-ci/pipeline/stages"
)

// Options are what the release manager gives on the command line.
type Options struct {
	Bump    string // --bump major|minor|patch
	Version string // --version X.Y.Z
	Pre     string // --pre rc
	// Branch overrides the branch released (default: CI branch, else the
	// checked-out one).
	Branch string

	// FailAfter makes the run stop with an infrastructure error right after
	// the named step: the re-run tests use it to die at every step in turn.
	FailAfter string
	// Now is the clock (tests pin it).
	Now func() time.Time
}

// Stage is the release stage.
type Stage struct{ Opts Options }

// New returns the stage with the given options.
func New(opts Options) *Stage { return &Stage{Opts: opts} }

// Name implements stages.Stage.
func (*Stage) Name() string { return "release" }

// Steps are the steps in the order they run; their names are those of the
// log sections, of Action.Step and of FailAfter.
var Steps = []string{
	StepFiles,        // prepend the changelog entry, update version files
	StepCommit,       // commit them with the release trailers
	StepPush,         // guarded push of the branch (or the release MR branch)
	StepMergeRequest, // open or update the release MR (mode mr)
	StepTag,          // annotated tag with the release trailers
	StepPushTag,      // push the tag
	StepMilestone,    // close the milestone, open the next one
	StepComments,     // tell shipped MRs and issues
	StepForgeRelease, // the forge release, last: it marks the release complete
}

// Step names.
const (
	StepFiles        = "files"
	StepCommit       = "commit"
	StepPush         = "push"
	StepMergeRequest = "merge-request"
	StepTag          = "tag"
	StepPushTag      = "push-tag"
	StepMilestone    = "milestone"
	StepComments     = "comments"
	StepForgeRelease = "forge-release"
)

// Action is one thing the stage did, found done, skipped, or (under
// --dry-run) would do.
type Action struct {
	Step   string `json:"step"`
	Action string `json:"action"`
	// Status is done, exists (already there: a re-run), updated (was
	// there, brought up to date: the forge release), skipped (with the
	// reason in Detail), or would (dry run).
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Data is the stage's --json result.
type Data struct {
	Releasable   bool             `json:"releasable"`
	Version      string           `json:"version,omitempty"`
	Previous     string           `json:"previous,omitempty"`
	Tag          string           `json:"tag,omitempty"`
	PreviousTag  string           `json:"previous_tag,omitempty"`
	Bump         string           `json:"bump"`
	Reason       string           `json:"reason"`
	Mode         string           `json:"mode"`
	Branch       string           `json:"branch"`
	Resumed      string           `json:"resumed,omitempty"`
	Notes        string           `json:"notes,omitempty"`
	Changes      []release.Change `json:"changes"`
	Counts       map[string]int   `json:"counts"`
	ClosedIssues []release.Issue  `json:"closed_issues,omitempty"`
	// Reverted are the changes (and their reverts) left out because they
	// were reverted before the release.
	Reverted []release.Change `json:"reverted,omitempty"`
	// Overrides are the MRs whose description's override block gave the
	// message used for bump and notes.
	Overrides   []int    `json:"overrides,omitempty"`
	IgnoredTags []string `json:"ignored_tags,omitempty"`
	Actions     []Action `json:"actions"`
}

// Run implements stages.Stage.
func (s *Stage) Run(ctx context.Context, env *stages.Env) (*stages.Result, error) {
	start := time.Now()
	r, err := newRun(ctx, s.Opts, env)
	if err != nil {
		return nil, err
	}
	// One pipeline run in a clone at a time; holding the lock, clear what
	// killed runs left before anything trips over it.
	lock, err := r.lockAndClear(ctx, start)
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	// cleanup grows as the run makes temporary things (the worktree).
	defer func() { r.cleanup() }()
	return r.run(ctx)
}

// run is one execution of the stage: its inputs and what it found.
type run struct {
	opts    Options
	env     *stages.Env
	cfg     config.Release
	git     *gitops.Git
	files   *gitops.Files // reads refs and tags in process; nil: ask git
	forge   gitops.Forge
	now     time.Time
	branch  string
	mode    string
	remote  string // "" when there is no such remote: the release stays local
	shallow bool   // a shallow clone
	head    string
	ident   bool // identity checked
	line    *release.Line
	links   release.Links
	tmpl    release.Templates

	wt      *gitops.Git // the worktree of the release branch (mode mr)
	changed []string    // files written, to commit
	state   *state
	plan    *release.Plan
	notes   *release.Notes
	texts   texts
	data    Data
	cleanup func()
}

// texts are the rendered notes, changelog entry and MR body.
type texts struct{ notes, entry, mrBody string }

func newRun(ctx context.Context, opts Options, env *stages.Env) (*run, error) {
	r := &run{opts: opts, env: env, cfg: env.Config.Release, forge: env.Forge, cleanup: func() {}}
	if r.forge == nil {
		r.forge = gitops.None{}
	}
	r.now = time.Now().UTC()
	if opts.Now != nil {
		r.now = opts.Now().UTC()
	}
	// Paths in the config (changelog, version files) are relative to the
	// top of the work tree, wherever --repo points inside it.
	top, shallow, head, checkedOut, files, err := openRepo(ctx, env.Repo)
	if err != nil {
		return nil, err
	}
	// Under CI the checkout's credentials (GitLab's job token) cannot push:
	// fetch and push with the forge's API token, never written anywhere.
	r.git = gitops.Open(top).WithForgeAuth(env.Config.Forge, env.CI)
	r.shallow, r.head, r.files = shallow, head, files

	r.branch = firstNonEmpty(opts.Branch, env.CI.Branch)
	if r.branch == "" {
		if r.branch, err = r.currentBranch(ctx, checkedOut); err != nil {
			return nil, err
		}
	}
	if r.branch == "" {
		return nil, errs.New(errs.Usage, errors.New("release: HEAD is detached and the CI context names no branch"),
			"check out the branch to release, or run from a branch pipeline (CI_COMMIT_BRANCH)")
	}
	r.line, err = release.LineOf(r.branch, r.cfg.MaintenanceBranch)
	if err != nil {
		return nil, errs.New(errs.Usage, fmt.Errorf("release.%w", err), "fix release.maintenance_branch in pipeline.yaml")
	}

	r.mode = r.cfg.Mode
	if r.mode == "" {
		r.mode = config.ReleaseModeDirect
		if gitops.Can(r.forge).Writes {
			r.mode = config.ReleaseModeMR
		}
	}
	if r.cfg.Remote != "" {
		if r.hasRemote(ctx, r.cfg.Remote) {
			r.remote = r.cfg.Remote
		}
	}
	r.links = linksFor(gitops.Can(r.forge), env.CI.WebURL)
	if r.tmpl, err = r.templates(); err != nil {
		return nil, err
	}
	r.data = Data{Mode: r.mode, Branch: r.branch, Counts: map[string]int{}}
	return r, nil
}

// identity makes sure commits and tags can be made: a CI clone often has
// no user.name/user.email. It is asked only before the first write.
func (r *run) identity(ctx context.Context) {
	if r.ident {
		return
	}
	r.ident = true
	name, _ := r.git.Run(ctx, "config", "user.name")
	email, _ := r.git.Run(ctx, "config", "user.email")
	if name == "" {
		r.git.Env = append(r.git.Env, "GIT_AUTHOR_NAME=pipeline release", "GIT_COMMITTER_NAME=pipeline release")
	}
	if email == "" {
		r.git.Env = append(r.git.Env, "GIT_AUTHOR_EMAIL=pipeline-release@localhost", "GIT_COMMITTER_EMAIL=pipeline-release@localhost")
	}
}

// templates reads the team's template files, relative to pipeline.yaml.
func (r *run) templates() (release.Templates, error) {
	t := release.Templates{Links: r.links}
	base := r.env.Repo
	if r.env.Config.Path != "" {
		base = filepath.Dir(r.env.Config.Path)
	}
	for _, f := range []struct {
		key, path string
		dst       *string
	}{
		{"release.templates.notes", r.cfg.Templates.Notes, &t.Notes},
		{"release.templates.changelog", r.cfg.Templates.Changelog, &t.Changelog},
		{"release.templates.merge_request", r.cfg.Templates.MergeRequest, &t.MergeRequest},
	} {
		if f.path == "" {
			continue
		}
		p, err := r.inside(templateRoot(r.git.Dir, base), base, f.key, f.path)
		if err != nil {
			return t, err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return t, errs.New(errs.Usage, fmt.Errorf("%s: %w", f.key, err), "give the path of a template file, relative to pipeline.yaml")
		}
		*f.dst = string(b)
	}
	return t, nil
}

// templateRoot is where the template files must be: the repository, or
// the directory of a pipeline.yaml kept outside it (--config).
func templateRoot(repo, base string) string {
	realRepo, err1 := filepath.EvalSymlinks(repo)
	realBase, err2 := filepath.EvalSymlinks(base)
	if err1 == nil && err2 == nil && !within(realRepo, realBase) {
		return base
	}
	return repo
}

// linksFor gives the URL forms of a forge's web pages.
func linksFor(c gitops.Capabilities, web string) release.Links {
	web = strings.TrimRight(web, "/")
	l := release.Links{MRRef: c.MRRef, IssueRef: c.IssueRef}
	if web == "" || c.Web == (gitops.WebPaths{}) {
		return l
	}
	l.MergeRequest, l.Issue, l.Commit, l.Compare = web+c.Web.MergeRequest, web+c.Web.Issue, web+c.Web.Commit, web+c.Web.Compare
	return l
}

func (r *run) run(ctx context.Context) (*stages.Result, error) {
	end := r.env.Log.Section("release_plan", "release: plan")
	err := r.makePlan(ctx)
	end()
	if err != nil {
		return r.result(stages.Errored, err.Error()), err
	}
	p := r.plan
	r.data.Releasable, r.data.Reason, r.data.Bump = p.Releasable, p.Reason, p.Bump.String()
	r.data.Changes, r.data.Counts, r.data.ClosedIssues = p.Changes, p.Counts, p.ClosedIssues
	r.data.Reverted, r.data.Overrides = p.Reverted, p.Overrides
	r.data.Previous, r.data.PreviousTag = p.Previous, p.PreviousTag
	if r.state != nil && r.state.kind != planNew {
		r.data.Resumed = r.state.reason
	}
	if !p.Releasable {
		msg := "nothing to release: " + p.Reason
		r.env.Log.Info(msg)
		r.print(msg)
		return r.result(stages.NoChange, msg), nil
	}
	r.data.Version, r.data.Tag = p.Version, p.Tag
	r.env.Log.WithField("version", p.Version).Infof("release %s (%s): %s", p.Version, p.Bump, p.Reason)

	if err := r.render(ctx); err != nil {
		return r.result(stages.Errored, err.Error()), err
	}
	r.data.Notes = r.texts.notes

	for _, step := range Steps {
		end := r.env.Log.Section("release_"+strings.ReplaceAll(step, "-", "_"), "release: "+step)
		err := r.step(ctx, step)
		end()
		if err != nil {
			return r.result(stages.Errored, fmt.Sprintf("release %s stopped at step %s: %v", p.Version, step, err)), err
		}
		if r.opts.FailAfter == step && !r.env.DryRun {
			err := errs.Infraf("release: fault injected after step %s", step)
			return r.result(stages.Errored, err.Error()), err
		}
		if r.mode == config.ReleaseModeMR && step == StepMergeRequest && r.state.kind == planNew {
			break // the rest happens when the release MR is merged
		}
	}
	return r.finish(), nil
}

func (r *run) finish() *stages.Result {
	p := r.plan
	var summary string
	switch {
	case r.env.DryRun:
		summary = fmt.Sprintf("would release %s (%s): %s", p.Version, p.Bump, p.Reason)
	case r.mode == config.ReleaseModeMR && r.state.kind == planNew && !gitops.Can(r.forge).Writes:
		summary = fmt.Sprintf("release branch %s pushed for %s (no forge: open its MR by hand); merging it releases %s", r.mrBranch(), p.Version, p.Tag)
	case r.mode == config.ReleaseModeMR && r.state.kind == planNew:
		summary = fmt.Sprintf("release MR for %s is open; merging it releases %s", p.Version, p.Tag)
	default:
		summary = fmt.Sprintf("released %s (%s)", p.Version, p.Bump)
	}
	if r.state.kind != planNew {
		summary += " — " + r.state.reason
	}
	r.print(summary)
	for _, a := range r.data.Actions {
		line := fmt.Sprintf("  %-14s %-8s %s", a.Step, a.Status, a.Action)
		if a.Detail != "" {
			line += " (" + a.Detail + ")"
		}
		r.print(line)
	}
	outcome := stages.Passed
	if r.env.DryRun {
		outcome = stages.DryRunned
	}
	res := r.result(outcome, summary)
	res.Dotenv = map[string]string{
		"PIPELINE_VERSION":          p.Version,
		"PIPELINE_PREVIOUS_VERSION": p.Previous,
		"PIPELINE_RELEASE_TAG":      p.Tag,
	}
	return res
}

func (r *run) result(o stages.Outcome, summary string) *stages.Result {
	return &stages.Result{Outcome: o, Summary: summary, Data: &r.data}
}

func (r *run) print(line string) {
	if r.env.Out != nil {
		fmt.Fprintln(r.env.Out, line)
	}
}

// render turns the plan into notes, changelog entry and MR body.
func (r *run) render(ctx context.Context) error {
	links, err := r.artifacts(ctx)
	if err != nil {
		return err
	}
	r.notes = release.NewNotes(r.plan, r.now.Format("2006-01-02"), r.links, links)
	// All three are rendered before any step, so that a broken template
	// stops the run before it writes anything (a dry run says so too);
	// they are independent, so the changelog entry and the MR body are
	// rendered beside the notes.
	var entryErr, mrErr error
	var wg sync.WaitGroup
	wg.Go(func() { r.texts.entry, entryErr = r.tmpl.RenderChangelogEntry(r.notes) })
	wg.Go(func() { r.texts.mrBody, mrErr = r.tmpl.RenderMRBody(r.notes) })
	r.texts.notes, err = r.tmpl.RenderNotes(r.notes)
	wg.Wait()
	switch {
	case err != nil:
		return errs.WithHint(err, "fix release.templates.notes")
	case entryErr != nil:
		return errs.WithHint(entryErr, "fix release.templates.changelog")
	case mrErr != nil:
		return errs.WithHint(mrErr, "fix release.templates.merge_request")
	}
	// A secret in a commit subject (a token pasted by mistake) is already
	// in git history, but the texts go further: CHANGELOG.md into the
	// release commit, the notes and the MR body to the forge. Mask them
	// as the log is masked.
	if m := r.env.Log.Masker(); m.Len() > 0 {
		r.texts.notes, r.texts.entry, r.texts.mrBody = m.Mask(r.texts.notes), m.Mask(r.texts.entry), m.Mask(r.texts.mrBody)
	}
	return nil
}

// artifacts are the links of the forge release: the configured ones, then
// every object of the build/template manifests found in the store.
func (r *run) artifacts(ctx context.Context) ([]release.Artifact, error) {
	rep := strings.NewReplacer("{version}", r.plan.Version, "{tag}", r.plan.Tag)
	var out []release.Artifact
	for _, l := range r.cfg.Links {
		out = append(out, release.Artifact{Name: rep.Replace(l.Name), URL: rep.Replace(l.URL)})
	}
	if len(r.cfg.Manifests) == 0 {
		return out, nil
	}
	st, err := artifacts.Open(ctx, r.env.Config.Artifacts.URL, artifacts.Settings{Base: r.git.Dir, S3: r.env.Config.Artifacts.S3, Env: r.env.CI.Env})
	if err != nil {
		return nil, err
	}
	for _, key := range r.cfg.Manifests {
		key = rep.Replace(key)
		var buf bytes.Buffer
		if err := st.Get(ctx, key, &buf); err != nil {
			if errors.Is(err, artifacts.ErrNotExist) {
				r.env.Log.Infof("no manifest %s in the artifact store: its artifacts are not linked", key)
				continue
			}
			return nil, errs.Infraf("release: read manifest %s: %w", key, err)
		}
		var m artifacts.Manifest
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			return nil, errs.Infraf("release: manifest %s: %w", key, err)
		}
		for _, o := range m.Objects {
			out = append(out, release.Artifact{Name: path.Base(o.Key), URL: o.URL})
		}
	}
	return out, nil
}

func (r *run) act(a Action) {
	if a.Status == "" {
		a.Status = "done"
	}
	r.data.Actions = append(r.data.Actions, a)
	log := r.env.Log.WithField("step", a.Step)
	msg := a.Status + ": " + a.Action
	if a.Detail != "" {
		msg += " (" + a.Detail + ")"
	}
	log.Info(msg)
}

func firstNonEmpty(v ...string) string { return cmp.Or(v...) }
