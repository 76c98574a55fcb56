// Package promote is `pipeline promote`: it keeps master green. Developers
// commit to staging; promote tests what staging has that master lacks,
// cherry-picks what passes onto master (with -x and a Promoted-from
// trailer), and when a batch fails finds the first culprit in few test runs
// and says so on the forge.
//
// The package is split the way it is tested:
//   - search.go and plan.go: the pure planning (which prefixes to test, in
//     which rounds, what lands), tested exhaustively and fuzzed, and driven
//     by the cost benchmark through simulate.go;
//   - candidates.go: which staging commits master does not hold yet (pure);
//   - workspace.go, probe.go: git worktrees, cherry-picks and the test
//     command (I/O);
//   - promote.go (this file): the steps of a run, which execute the plan;
//   - report.go: statuses, the culprit comment, JUnit and --json.
//
// The stage keeps no state of its own: master is the record (trailers,
// cherry-pick lines, patch-ids), so a run killed at any point and run again
// recomputes everything and converges to the same master.
package promote

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// maxAttempts bounds how often a run starts over because someone else
// moved master while it was testing.
const maxAttempts = 5

// Stage is the promote stage.
type Stage struct {
	// AfterStep, when set, is called after every step of a run ("fetch",
	// "build 1", "round 2", "land 1", "report"); an error stops the run
	// right there, as a kill would. Tests use it to inject faults.
	AfterStep func(step string) error
	// ListOnly stops after finding the candidates: nothing is tested,
	// picked or pushed (`pipeline promote --list`).
	ListOnly bool
}

// New returns the promote stage.
func New() *Stage { return &Stage{} }

// Name is "promote".
func (s *Stage) Name() string { return "promote" }

// Run promotes what passes from promote.from to promote.to.
func (s *Stage) Run(ctx context.Context, env *stages.Env) (*stages.Result, error) {
	cfg := env.Config.Promote
	if err := checkConfig(env.Config.Path, cfg, s.ListOnly); err != nil {
		return nil, err
	}
	// Under CI the checkout's credentials (GitLab's job token) cannot push:
	// fetch and push with the forge's API token, never written anywhere.
	repo := gitops.Open(env.Repo).WithForgeAuth(env.Config.Forge, env.CI)
	repo.Env = append(repo.Env, identityEnv(ctx, repo)...)
	repo.Env = append(repo.Env, quietGitEnv...)
	if _, err := repo.Run(ctx, "rev-parse", "--git-dir"); err != nil {
		return nil, errs.New(errs.Usage, fmt.Errorf("promote: %s is not a git repository: %w", env.Repo, err),
			"run pipeline promote in a clone of the repository, or pass --repo")
	}
	start := time.Now()
	workdir, err := s.workdir(ctx, env, repo)
	if err != nil {
		return nil, err
	}
	// One pipeline run in a clone at a time; holding the lock, clear what
	// killed runs left, before the first fetch trips over a stale ref lock.
	lock, err := repo.LockRun(ctx)
	if errors.Is(err, gitops.ErrCloneBusy) {
		return nil, errs.New(errs.Usage, fmt.Errorf("promote: %w: %w", ErrBusy, err),
			"wait for it to finish, or give each run its own clone")
	}
	if err != nil {
		return nil, errs.Infraf("promote: %w", err)
	}
	defer lock.Release()
	if err := clearLeftovers(ctx, env, repo, lock, workdir, start); err != nil {
		return nil, err
	}
	var rep *Report
	for attempt := 1; ; attempt++ {
		r := &run{stage: s, env: env, cfg: cfg, repo: repo, attempt: attempt, workdir: workdir}
		rep, err = r.do(ctx)
		if errors.Is(err, gitops.ErrPushRejected) && attempt < maxAttempts {
			env.Log.Warnf("%s moved on %s while this run was testing (another promote?): starting over from the new %s (attempt %d of %d)",
				cfg.To, cfg.Remote, cfg.To, attempt+1, maxAttempts)
			continue
		}
		break
	}
	if err != nil {
		var stop stopped
		if errors.As(err, &stop) {
			// Stopped by the fault-injection hook: like a kill, nothing
			// more is done.
			return nil, stop.err
		}
		if errors.Is(err, gitops.ErrPushRejected) {
			err = errs.New(errs.Infra, err, fmt.Sprintf("%s kept moving during %d attempts: serialise promote jobs (GitLab resource_group, Jenkins lock) and re-run", cfg.To, maxAttempts))
		}
		if rep != nil && len(rep.Candidates) > 0 {
			// Say what is known: what landed before the error is on
			// master, and its statuses should say so.
			s.publish(ctx, env, rep)
			return rep.result(), err
		}
		return nil, err
	}
	if err := s.step("finish"); err != nil {
		return rep.result(), errors.Unwrap(err)
	}
	if rep.ListOnly {
		rep.logSummary(env)
		return rep.result(), nil
	}
	s.publish(ctx, env, rep)
	res := rep.result()
	// The verdict on the pipeline's commit, for `pipeline serve`; outside CI
	// there is no commit to speak for (HEAD is whatever the clone has).
	if sha := gitops.StatusSHA(env.CI); sha != "" {
		stages.RecordVerdict(ctx, env, &handoff.Verdict{Stage: "promote", Commit: sha, Outcome: string(res.Outcome), Summary: res.Summary,
			Passed: len(rep.Promoted()), Failed: len(rep.Culprits()), URL: env.CI.JobURL, Time: time.Now().UTC()})
	}
	return res, rep.failure()
}

// workdir is where the worktrees go: promote.workdir, or the default one
// for this clone; refused (exit 2) when it is not promote's to clear.
func (s *Stage) workdir(ctx context.Context, env *stages.Env, repo *gitops.Git) (string, error) {
	dir, isDefault := env.Config.Promote.Workdir, false
	if dir == "" {
		var err error
		if dir, err = defaultWorkdir(ctx, repo); err != nil {
			return "", errs.Infraf("promote workdir: %w", err)
		}
		isDefault = true
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", errs.Infraf("promote workdir: %w", err)
	}
	if err := checkWorkdir(ctx, repo, abs, isDefault); err != nil {
		if errors.Is(err, errNotOurs) {
			return "", errs.New(errs.Usage, fmt.Errorf("promote.workdir: %w: promote clears its workdir on every run and clears only a directory it made", err),
				"point promote.workdir at a new or empty directory outside the clone (or leave it unset for one under the temp dir); "+
					"move your files out of "+abs+" if it is the right place")
		}
		return "", errs.Infraf("promote workdir %s: %w", abs, err)
	}
	return abs, nil
}

// clearLeftovers removes what killed runs left in the clone: promote's
// own worktrees (in the workdir, registered or half made), and git's lock
// files older than this run (see gitops.ClearLeftovers for when they are
// left alone). The workdir itself is cleared by openWorkspace.
func clearLeftovers(ctx context.Context, env *stages.Env, repo *gitops.Git, lock *gitops.RunLock, workdir string, start time.Time) error {
	c, err := repo.ClearLeftovers(ctx, lock, gitops.Leftovers{
		Before:   start,
		Own:      func(p string) bool { return within(p, workdir) },
		OwnNames: ownWorktreeNames,
	})
	if err != nil {
		return errs.New(errs.Infra, fmt.Errorf("promote: clear what an earlier run left in %s: %w", env.Repo, err),
			"remove it by hand (git worktree prune; the .lock file named) and re-run")
	}
	for _, w := range c.Worktrees {
		env.Log.Warnf("removed worktree %s, left by a promote that was killed", w)
	}
	for _, l := range c.Locks {
		env.Log.Warnf("removed %s, left by a git that was killed", l)
	}
	if c.Kept != "" {
		env.Log.Warnf("left git's lock files alone: %s", c.Kept)
	}
	return nil
}

func (s *Stage) step(name string) error {
	if s.AfterStep == nil {
		return nil
	}
	if err := s.AfterStep(name); err != nil {
		return stopped{err}
	}
	return nil
}

// stopped is an error from the AfterStep hook.
type stopped struct{ err error }

func (e stopped) Error() string { return e.err.Error() }
func (e stopped) Unwrap() error { return e.err }

func checkConfig(path string, cfg config.Promote, listOnly bool) error {
	where := "pipeline.yaml"
	if path != "" {
		where = path
	}
	if strings.TrimSpace(cfg.Test) == "" && !listOnly {
		return errs.New(errs.Usage, fmt.Errorf("promote: %s has no promote.test", where),
			"set promote.test to the command that runs your build verification tests, e.g. `test: make bvt`")
	}
	for _, fe := range cfg.Validate() {
		return errs.New(errs.Usage, fmt.Errorf("promote.%s in %s %s", fe.Path, where, fe.Msg), "")
	}
	return nil
}

// run is one attempt at a promotion: it ends when the plan is done, or
// when master moved under it (then Run starts a new attempt).
type run struct {
	stage   *Stage
	env     *stages.Env
	cfg     config.Promote
	repo    *gitops.Git
	ws      *workspace
	workdir string
	attempt int

	cands []Candidate
	plan  *Plan
	rep   *Report

	head  string // master as it is (or, under --dry-run, would be) now
	lease string // what the remote's master must still be for our push

	chain    []string // commits of the current batch's prefixes: chain[0] = head
	trees    []string // their trees
	passed   map[string]bool
	sub      string         // --repo relative to the top of the work tree: where probes run
	failOut  map[int]string // last failing output per candidate ending a prefix
	failExit map[int]int    // and its exit status
	round    int
	stopped  error // why the run's context ended, when it did (cancelled)
}

func (r *run) do(ctx context.Context) (*Report, error) {
	cfg, log := r.cfg, r.env.Log
	r.rep = &Report{Remote: cfg.Remote, From: cfg.From, To: cfg.To, Test: cfg.Test,
		DryRun: r.env.DryRun, Attempt: r.attempt, Parallel: cfg.Parallel, Retries: cfg.Retries}

	end := log.Section("promote_fetch", fmt.Sprintf("fetch %s and %s from %s", cfg.From, cfg.To, cfg.Remote))
	err := r.findCandidates(ctx)
	end()
	if err != nil {
		return r.rep, err
	}
	if err := r.stage.step("fetch"); err != nil {
		return r.rep, err
	}
	if len(r.cands) == 0 {
		log.Infof("nothing to promote: every commit of %s is on %s", cfg.From, cfg.To)
		r.rep.MasterAfter = r.head
		return r.rep, nil
	}
	log.Infof("%d candidate(s) on %s not yet on %s (at %s):", len(r.cands), cfg.From, cfg.To, short(r.head))
	for i, c := range r.cands {
		log.Infof("  %3d  %s  %s", i+1, short(c.SHA), c.Subject)
	}
	if r.stage.ListOnly {
		r.rep.ListOnly = true
		r.rep.MasterAfter = r.head
		for i := range r.rep.Candidates {
			r.rep.Candidates[i].Reason = "listed only (--list)"
		}
		return r.rep, nil
	}

	r.ws, err = openWorkspace(ctx, r.repo, r.workdir, cfg.Parallel, r.head)
	if errors.Is(err, ErrBusy) {
		return r.rep, errs.New(errs.Usage, fmt.Errorf("promote: %w", err),
			"wait for it to finish, or give each run its own clone or promote.workdir")
	}
	if err != nil {
		return r.rep, errs.Infraf("promote: %w", err)
	}
	defer r.ws.close(context.WithoutCancel(ctx))

	r.sub = subdir(ctx, r.repo, r.env.Repo)
	r.plan = NewPlan(len(r.cands), Options{Parallel: cfg.Parallel, Retries: cfg.Retries})
	r.passed = map[string]bool{}
	r.failOut = map[int]string{}
	r.failExit = map[int]int{}
	for {
		st := r.plan.Next()
		var name string
		switch st.Kind {
		case StepDone:
			r.finishReport()
			return r.rep, nil
		case StepBuild:
			name = fmt.Sprintf("build %d", r.plan.Batches+1)
			err = r.build(ctx, st.Build)
		case StepProbe:
			r.round++
			name = fmt.Sprintf("round %d", r.round)
			err = r.probeRound(ctx, st)
		case StepLand:
			name = fmt.Sprintf("land %d", len(r.rep.Landings)+1)
			err = r.land(ctx, st)
		}
		if err != nil {
			r.stopped = proc.Stopped(ctx)
			r.finishReport()
			return r.rep, err
		}
		if err := r.stage.step(name); err != nil {
			return r.rep, err
		}
	}
}

// subdir is dir relative to the top of its work tree ("" at the top): a
// project whose pipeline.yaml sits in a subdirectory of a bigger
// repository runs its test there, in every probe worktree too.
func subdir(ctx context.Context, repo *gitops.Git, dir string) string {
	top, err := repo.Run(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return ""
	}
	a, err1 := filepath.EvalSymlinks(top)
	b, err2 := filepath.EvalSymlinks(dir)
	if err1 != nil || err2 != nil {
		return ""
	}
	rel, err := filepath.Rel(a, b)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return ""
	}
	return rel
}

// findCandidates fetches both branches (deepening a shallow clone to their
// merge base) and lists the staging commits master does not hold.
func (r *run) findCandidates(ctx context.Context) error {
	cfg := r.cfg
	for _, br := range []string{cfg.From, cfg.To} {
		sha, err := r.repo.RemoteRef(ctx, cfg.Remote, "refs/heads/"+br)
		if err != nil {
			return errs.New(errs.Infra, fmt.Errorf("promote: read %s on %s: %w", br, cfg.Remote, err),
				"check that the remote "+cfg.Remote+" is reachable and the job may read it")
		}
		if sha == "" {
			return errs.New(errs.Usage, fmt.Errorf("promote: branch %s does not exist on %s", br, cfg.Remote),
				"create it, or set promote.from / promote.to / promote.remote in pipeline.yaml")
		}
	}
	base, err := r.repo.DeepenToMergeBase(ctx, cfg.Remote, cfg.To, cfg.From)
	if err != nil {
		return errs.Infraf("promote: find where %s and %s meet: %w", cfg.From, cfg.To, err)
	}
	toRef := "refs/remotes/" + cfg.Remote + "/" + cfg.To
	fromRef := "refs/remotes/" + cfg.Remote + "/" + cfg.From
	if r.head, err = r.repo.RevParse(ctx, toRef); err != nil {
		return errs.Infraf("promote: %w", err)
	}
	r.lease = r.head
	r.rep.MasterBefore = r.head
	staging, err := r.repo.Log(ctx, "--first-parent", "--reverse", base+".."+fromRef, "--")
	if err != nil {
		return errs.Infraf("promote: list %s: %w", cfg.From, err)
	}
	master, err := r.repo.Log(ctx, base+".."+toRef, "--")
	if err != nil {
		return errs.Infraf("promote: list %s: %w", cfg.To, err)
	}
	applied := map[string]bool{}
	cherry, err := r.repo.Cherry(ctx, toRef, fromRef)
	if err != nil {
		return errs.Infraf("promote: compare patches of %s and %s: %w", cfg.From, cfg.To, err)
	}
	for _, e := range cherry {
		if e.Applied {
			applied[e.SHA] = true
		}
	}
	r.cands = Pending(staging, master, applied)
	times := map[string]time.Time{}
	for _, c := range staging {
		times[c.SHA] = c.CommitTime
	}
	for i := range r.cands {
		r.cands[i].time = times[r.cands[i].SHA]
	}
	r.rep.Candidates = make([]CandidateReport, len(r.cands))
	for i, c := range r.cands {
		r.rep.Candidates[i] = CandidateReport{Candidate: c, State: NotTested}
	}
	return nil
}

// build picks the candidates onto master (as it now is) in the build
// worktree; a conflicting pick is left out and reported blocked.
func (r *run) build(ctx context.Context, idx []int) error {
	log := r.env.Log
	end := log.Section(fmt.Sprintf("promote_build_%d", r.plan.Batches+1),
		fmt.Sprintf("batch %d: pick %d commit(s) onto %s", r.plan.Batches+1, len(idx), short(r.head)))
	defer end()
	if err := r.ws.reset(ctx, r.head); err != nil {
		return errs.Infraf("promote: reset build worktree: %w", err)
	}
	tree, err := treeOf(ctx, r.repo, r.head)
	if err != nil {
		return errs.Infraf("promote: %w", err)
	}
	r.chain, r.trees = []string{r.head}, []string{tree}
	var blocked []int
	for _, i := range idx {
		c := r.cands[i]
		p, err := r.ws.pick(ctx, c)
		if err != nil {
			return errs.Infraf("promote: %w", err)
		}
		if p.Blocked {
			why := "does not apply onto " + r.cfg.To
			if d := r.plan.lastDrop; d >= 0 {
				why = "does not apply without culprit " + short(r.cands[d].SHA)
			}
			log.Warnf("  %s %s: %s (conflicts in %s): blocked, not forced", short(c.SHA), c.Subject, why, strings.Join(p.Files, ", "))
			r.rep.Candidates[i].Reason = why + " (conflicts in " + strings.Join(p.Files, ", ") + ")"
			r.rep.Candidates[i].ConflictFiles = p.Files
			blocked = append(blocked, i)
			continue
		}
		t, err := treeOf(ctx, r.repo, p.Commit)
		if err != nil {
			return errs.Infraf("promote: %w", err)
		}
		r.chain = append(r.chain, p.Commit)
		r.trees = append(r.trees, t)
		log.Debugf("  picked %s as %s", short(c.SHA), short(p.Commit))
	}
	r.plan.Built(blocked)
	return nil
}

// probeRound runs one round of probes, each in its own worktree, at once.
func (r *run) probeRound(ctx context.Context, st Step) error {
	log := r.env.Log
	end := log.Section(fmt.Sprintf("promote_round_%d", r.round), fmt.Sprintf("round %d: %d probe(s)", r.round, len(st.Probes)))
	defer end()
	type outcome struct {
		pr  ProbeReport
		out []byte
		err error
	}
	results := make([]outcome, len(st.Probes))
	var wg sync.WaitGroup
	for k, p := range st.Probes {
		pr := ProbeReport{
			N: len(r.rep.Probes) + k + 1, Round: r.round, Batch: r.plan.Batches,
			Prefix: p.Prefix, Of: len(st.Batch), Reason: p.Reason,
			Commit: r.chain[p.Prefix], Tree: r.trees[p.Prefix],
		}
		if p.Prefix > 0 {
			c := r.cands[st.Batch[p.Prefix-1]]
			pr.Head, pr.Subject = c.SHA, c.Subject
		} else {
			pr.Subject = r.cfg.To + " alone"
		}
		log.Infof("  probe %d: %s — tree of %s + %d of %d commit(s), last %s %s",
			pr.N, p.Reason, r.cfg.To, p.Prefix, len(st.Batch), short(pr.Head), pr.Subject)
		wg.Add(1)
		go func(k int, g *gitops.Git, pr ProbeReport) {
			defer wg.Done()
			if err := checkoutClean(ctx, g, pr.Commit); err != nil {
				results[k] = outcome{pr: pr, err: errs.Infraf("promote: check out %s for probe %d: %w", short(pr.Commit), pr.N, err)}
				return
			}
			pc := probeCommand{Command: r.cfg.Test, Timeout: r.cfg.Timeout.D(), Env: []string{
				"PIPELINE_PROMOTE_COMMIT=" + pr.Head,
				"PIPELINE_PROMOTE_TREE=" + pr.Tree,
				fmt.Sprintf("PIPELINE_PROMOTE_PREFIX=%d", pr.Prefix),
			}}
			stream := &lineWriter{w: log.Writer(), prefix: fmt.Sprintf("probe %d │ ", pr.N), mask: log.Masker()}
			pc.Stream = stream
			res, err := pc.run(ctx, filepath.Join(g.Dir, r.sub))
			_ = stream.Close()
			pr.Verdict, pr.ExitCode, pr.Seconds = res.Verdict, res.ExitCode, res.Seconds
			results[k] = outcome{pr: pr, out: res.Output, err: err}
		}(k, r.ws.probes[k], pr)
	}
	wg.Wait()
	var firstErr error
	for k, o := range results {
		pr := o.pr
		name := fmt.Sprintf("promote/probe-%03d.log", pr.N)
		if !r.env.DryRun {
			if p, err := r.env.Report.WriteFile(name, o.out); err == nil && p != "" {
				pr.Log = name
			}
		}
		if o.err != nil {
			pr.Error = o.err.Error()
			r.rep.Probes = append(r.rep.Probes, pr)
			if firstErr == nil {
				firstErr = fmt.Errorf("probe %d (%s): %w", pr.N, short(pr.Commit), o.err)
			}
			continue
		}
		log.Infof("  probe %d: %s → %s (exit %d, %.1fs)", pr.N, short(pr.Head), pr.Verdict, pr.ExitCode, pr.Seconds)
		if pr.Verdict == Good {
			r.passed[pr.Tree] = true
		}
		if pr.Verdict == Bad && pr.Prefix > 0 {
			r.failOut[st.Batch[pr.Prefix-1]] = tailLines(o.out, r.cfg.OutputTail)
			r.failExit[st.Batch[pr.Prefix-1]] = pr.ExitCode
		}
		r.rep.Probes = append(r.rep.Probes, pr)
		r.plan.Record(st.Probes[k], pr.Verdict)
	}
	return firstErr
}

// land pushes the passing prefix onto master: one atomic push, guarded by
// the master the batch was built on, of a commit whose tree was tested.
func (r *run) land(ctx context.Context, st Step) error {
	log := r.env.Log
	commit, tree := r.chain[st.Land], r.trees[st.Land]
	// The pushed tree must be exactly a tested tree: check, do not assume.
	if got, err := treeOf(ctx, r.repo, commit); err != nil || got != tree || !r.passed[tree] {
		return errs.Infraf("promote: refusing to land %s: its tree %s was not tested and passed (internal error)", short(commit), short(got))
	}
	l := Landing{Commit: commit, Tree: tree, From: r.head}
	for _, i := range st.Batch[:st.Land] {
		l.Promoted = append(l.Promoted, r.cands[i].SHA)
	}
	ref := "refs/heads/" + r.cfg.To
	switch {
	case r.env.DryRun:
		log.Infof("dry-run: would push %s to %s (%d commit(s), tree %s)", short(commit), r.cfg.To, st.Land, short(tree))
	case r.cfg.Mode == config.PromoteModeGitLabAPI:
		if err := r.landByAPI(ctx, st, &l); err != nil {
			return err
		}
	default:
		if err := r.repo.Push(ctx, r.cfg.Remote, gitops.RefUpdate{Ref: ref, New: commit, Old: r.lease}); err != nil {
			if errors.Is(err, gitops.ErrPushRejected) {
				return err
			}
			return errs.New(errs.Infra, fmt.Errorf("promote: push %s to %s: %w", short(commit), r.cfg.To, err),
				"the job needs write access to "+r.cfg.To+" (a deploy key or a token with write_repository), or use promote.mode: gitlab-api")
		}
		log.Infof("pushed %s to %s: %d commit(s) promoted", short(commit), r.cfg.To, st.Land)
		l.Pushed = true
		r.lease = commit
		// Keep our view of the remote in step with what we just did.
		_, _ = r.repo.Run(ctx, "update-ref", "refs/remotes/"+r.cfg.Remote+"/"+r.cfg.To, commit)
	}
	r.head = commit
	r.rep.Landings = append(r.rep.Landings, l)
	for k, i := range st.Batch[:st.Land] {
		r.rep.Candidates[i].PromotedAs = r.chain[k+1]
	}
	r.plan.LandDone()
	return nil
}

// finishReport copies what the plan decided into the report.
func (r *run) finishReport() {
	if r.plan == nil {
		return
	}
	for i := range r.cands {
		c := &r.rep.Candidates[i]
		c.State = r.plan.State(i)
		c.FoundIn = r.plan.FoundIn(i)
		switch c.State {
		case Culprit:
			c.Reason = "first commit whose tree fails " + r.cfg.Test + ", confirmed with its parent"
			c.OutputTail, c.ExitCode = r.failOut[i], r.failExit[i]
		case Suspect:
			c.Reason = "the first failure is one of the suspects; the others could not be tested (exit 125)"
			c.OutputTail, c.ExitCode = r.failOut[i], r.failExit[i]
		case Blocked:
			if d := r.plan.BlamedOn(i); d >= 0 {
				c.BlockedBy = r.cands[d].SHA
			}
		case NotTested:
			if c.Reason == "" {
				switch {
				case r.stopped != nil:
					c.Reason = "the run was " + r.stopped.Error() + " before it was tested"
				case r.plan.BaseBroken:
					c.Reason = r.cfg.To + " itself fails the test"
				case r.plan.Inconsistent:
					c.Reason = "the test gave contradictory results"
				default:
					c.Reason = "could not be tested (exit 125)"
				}
			}
		}
	}
	r.rep.Rounds = r.round
	r.rep.Batches = r.plan.Batches
	r.rep.SearchRounds = r.plan.SearchRounds
	r.rep.BaseBroken = r.plan.BaseBroken
	r.rep.Inconsistent = r.plan.Inconsistent
	r.rep.MasterAfter = r.head
}

// landByAPI lands the prefix with the forge's cherry-pick API (GitLab), one
// commit at a time, for runners that may not push. It is guarded the same
// way as far as an API allows: master must still be what the batch was
// built on before the first pick, and after the last pick master's tree
// must be the tree that was tested; if not, the run stops with an
// infrastructure error naming both trees so that a person can revert.
func (r *run) landByAPI(ctx context.Context, st Step, l *Landing) error {
	cfg := r.cfg
	ref := "refs/heads/" + cfg.To
	now, err := r.repo.RemoteRef(ctx, cfg.Remote, ref)
	if err != nil {
		return errs.Infraf("promote: read %s on %s: %w", cfg.To, cfg.Remote, err)
	}
	if now != r.lease {
		return &gitops.PushRejectedError{Remote: cfg.Remote, Refs: map[string]string{ref: "moved before the API cherry-picks"}}
	}
	var last string
	for k, i := range st.Batch[:st.Land] {
		msg, err := r.repo.Run(ctx, "log", "-1", "--format=%B", r.chain[k+1])
		if err != nil {
			return errs.Infraf("promote: %w", err)
		}
		sha, err := r.env.Forge.CherryPick(ctx, r.cands[i].SHA, cfg.To, msg, false)
		if errors.Is(err, gitops.ErrEmptyPick) {
			// GitLab's "empty": cfg.To has this change already; the tree
			// check below still compares the result with the tested tree.
			r.env.Log.Infof("promote: %s is already on %s (GitLab: empty cherry-pick)", short(r.cands[i].SHA), cfg.To)
			continue
		}
		if err != nil {
			return errs.New(errs.Infra, fmt.Errorf("promote: cherry-pick %s onto %s with the forge API: %w", short(r.cands[i].SHA), cfg.To, err),
				"promote.mode gitlab-api needs a GitLab forge and a token with the api scope; or use promote.mode: push")
		}
		last = sha
	}
	if err := r.repo.Fetch(ctx, cfg.Remote, "+"+ref+":refs/remotes/"+cfg.Remote+"/"+cfg.To); err != nil {
		return errs.Infraf("promote: fetch %s after the API cherry-picks: %w", cfg.To, err)
	}
	got, err := treeOf(ctx, r.repo, "refs/remotes/"+cfg.Remote+"/"+cfg.To)
	if err != nil {
		return errs.Infraf("promote: %w", err)
	}
	if got != l.Tree {
		return errs.New(errs.Infra, fmt.Errorf("promote: after the API cherry-picks %s has tree %s, but the tested tree is %s", cfg.To, short(got), short(l.Tree)),
			"someone else changed "+cfg.To+" meanwhile, or the forge resolved a pick differently: check "+cfg.To+" and revert if needed; serialise promote jobs")
	}
	head, err := r.repo.RevParse(ctx, "refs/remotes/"+cfg.Remote+"/"+cfg.To)
	if err != nil {
		return errs.Infraf("promote: %w", err)
	}
	if last != "" && head != last {
		r.env.Log.Warnf("%s is at %s, the API's last pick was %s", cfg.To, short(head), short(last))
	}
	l.Commit, l.Pushed = head, true
	r.lease = head
	r.chain[st.Land] = head
	return nil
}
