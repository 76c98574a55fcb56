package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
)

// stageSteps are the steps of `pipeline integration`, in order; each
// scenario on each target then runs Steps (steps.go). A step that returns
// an error, or sets done, ends the run with r.res.
var stageSteps = []struct {
	Name string
	Run  func(r *stageRun, ctx context.Context) error
}{
	{"suites", (*stageRun).stepSuites},             // read and check the suite files
	{"inputs", (*stageRun).stepInputs},             // the version under test and production's: hand-offs, the store
	{"provisioning", (*stageRun).stepProvisioning}, // the built-in apt provisioning, unless pipeline.yaml writes its own
	{"base", (*stageRun).stepBase},                 // the targets' base root filesystem (integration.bootstrap)
	{"plan", (*stageRun).stepPlan},                 // what runs where; a dry run says it and stops here
	{"targets", (*stageRun).stepTargets},           // every scenario on every target, parallel, then the log sections
	{"reports", (*stageRun).stepReports},           // artifacts, JUnit, JSON, the comment's Markdown
	{"comment", (*stageRun).stepComment},           // the MR comment, kept up to date
	{"verdict", (*stageRun).stepVerdict},           // the outcome, handed on to later jobs and `pipeline serve`
}

// stageRun is one run of the stage: what its steps hand each other.
type stageRun struct {
	env     *stages.Env
	cfg     config.Integration
	shard   string // "i/n" of a sharded run
	targets []config.IntegrationTarget

	suites  []*Suite
	nChecks int
	in      *Inputs
	prov    Provisioning
	plan    *Plan
	started time.Time
	runs    []*TargetRun
	arts    map[string]string // target/phase → artifact path (relative to the report dir)
	data    *Data
	reports []string
	comment string

	res  *stages.Result
	done bool // the run ends with res
}

func (r *stageRun) stepSuites(ctx context.Context) error {
	suites, err := LoadSuites(r.env.Repo, r.cfg.Suites)
	if err != nil {
		return err
	}
	r.suites = suites
	if len(r.cfg.Suites) == 0 {
		r.env.Log.Infof("no suites (integration.suites is empty): running only the built-in phases (provision, idempotence, logs, state)")
	}
	for _, su := range suites {
		r.nChecks += len(su.Checks)
	}
	if len(r.targets) == 0 {
		r.res, r.done = &stages.Result{Outcome: stages.NoChange, Summary: fmt.Sprintf("shard %s has no target", r.shard)}, true
	}
	return nil
}

func (r *stageRun) stepInputs(ctx context.Context) error {
	in, err := resolveInputs(ctx, r.env, &r.cfg, r.targets)
	r.in = in
	if err != nil {
		r.res = &stages.Result{Outcome: stages.Errored, Summary: firstLine(err.Error()), Data: &Data{Inputs: in}}
	}
	return err
}

func (r *stageRun) stepProvisioning(ctx context.Context) error {
	cfg := &r.cfg
	r.prov = Provisioning{Setup: cfg.Setup, Base: cfg.Base, Provision: cfg.Provision}
	if !cfg.BuiltinProvisioning() {
		return nil
	}
	prov, err := builtinProvisioning(r.env, cfg, r.in, r.targets)
	if err != nil {
		r.res = &stages.Result{Outcome: stages.Errored, Summary: firstLine(err.Error()), Data: &Data{Inputs: r.in}}
		return err
	}
	r.prov = prov
	r.env.Log.Infof("provisioning: built-in apt (from the build's hand-off): `%s`; write copy/setup/base/provision to replace it (docs/integration.md)", lastLine(prov.Provision))
	return nil
}

// stepBase gives chroot and container targets without a root filesystem
// of their own the base of integration.bootstrap (built or reused; dry
// run: said).
func (r *stageRun) stepBase(ctx context.Context) error {
	targets, err := prepareBase(ctx, r.env, r.targets)
	r.targets = targets
	return err
}

func (r *stageRun) stepPlan(ctx context.Context) error {
	env, cfg := r.env, r.cfg
	if env.DryRun {
		var lines []string
		for _, t := range r.targets {
			lines = append(lines, fmt.Sprintf("%s (%s): %s", t.Name, t.Runner, strings.Join(cfg.ScenariosOf(t), ", ")))
		}
		env.Log.Infof("dry run: would run %d check(s) from %d suite(s) on: %s", r.nChecks, len(r.suites), strings.Join(lines, "; "))
		r.res, r.done = &stages.Result{Outcome: stages.DryRunned, Data: &Data{Version: cfg.Version, Previous: cfg.Previous, Inputs: r.in},
			Summary: fmt.Sprintf("would run %d check(s) on %d target(s) with version %s (previous %s), nothing started", r.nChecks, len(r.targets), cfg.Version, orNone(cfg.Previous))}, true
		return nil
	}
	provTimeout, checkTimeout := cfg.Timeouts()
	journal := cfg.Logs.Journal == nil || *cfg.Logs.Journal
	patterns := cfg.Logs.Patterns
	if len(patterns) == 0 {
		patterns = config.DefaultLogPatterns
	}
	ctxLines := cfg.Logs.Context
	if ctxLines == 0 {
		ctxLines = 3
	}
	prov := r.prov
	plan := &Plan{
		Suites: r.suites, Version: cfg.Version, Previous: cfg.Previous,
		Setup: prov.Setup, Base: prov.Base, Provision: prov.Provision,
		Idempotence: cfg.IdempotenceOn(),
		Snapshot:    SnapshotSpec{Paths: cfg.Snapshot.Paths, Sysctl: cfg.Snapshot.Sysctl, Ignore: cfg.Snapshot.Ignore},
		Logs: LogSpec{Files: cfg.Logs.Files, Journal: journal, Patterns: compileAll(patterns),
			Allow: compileAll(cfg.Logs.Allow), Context: ctxLines},
		ProvisionTimeout: provTimeout, CheckTimeout: checkTimeout, Parallel: cfg.ParallelOrDefault(),
		Progress: func(target, scenario, msg string) {
			env.Log.With(map[string]any{"target": target, "scenario": scenario}).Info(msg)
		},
	}
	for _, c := range cfg.Copy {
		src := c.Src
		if !filepath.IsAbs(src) {
			src = filepath.Join(env.Repo, src)
		}
		if _, err := os.Stat(src); err != nil {
			return errs.New(errs.Usage, fmt.Errorf("integration.copy: %w", err), "build the files first (pipeline build) or fix the path")
		}
		plan.Copy = append(plan.Copy, CopyItem{Src: src, Dest: c.Dest})
	}
	for _, c := range prov.Copy { // the built-in provisioning's
		if _, err := os.Stat(c.Src); err != nil {
			return errs.New(errs.Usage, fmt.Errorf("integration: built-in provisioning: %w", err), "build the packages first (pipeline build)")
		}
		plan.Copy = append(plan.Copy, c)
	}
	lookup := func(k string) (string, bool) { return env.CI.Env.Lookup(k) }
	if env.CI.Env == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	for _, t := range r.targets {
		runner, err := NewRunner(t, env.Repo, lookup)
		if err != nil {
			return err
		}
		plan.Targets = append(plan.Targets, Target{Name: t.Name, Kind: t.Runner, Runner: runner, Scenarios: cfg.ScenariosOf(t)})
	}
	r.plan = plan
	return nil
}

func (r *stageRun) stepTargets(ctx context.Context) error {
	env := r.env
	r.started = time.Now()
	env.Log.Infof("running %d check(s) from %d suite(s) on %d target(s), %d at a time", r.nChecks, len(r.suites), len(r.targets), r.plan.Parallel)
	r.runs = Execute(ctx, r.plan)

	// Each target's scenarios in their own log section, each step in a
	// section inside it, written whole once the targets are done so that
	// parallel targets never interleave inside a section.
	for _, tr := range r.runs {
		for _, sc := range tr.Scenarios {
			name := "integration_" + tr.Target + "_" + sc.Scenario
			end := env.Log.Section(name, fmt.Sprintf("integration %s %s", tr.Target, strings.ToUpper(sc.Scenario)))
			for _, ph := range sc.Phases {
				endPhase := env.Log.Section(name+"_"+ph.Name, fmt.Sprintf("%s %s: %s", tr.Target, strings.ToUpper(sc.Scenario), ph.Name))
				fmt.Fprint(env.Log.Writer(), ph.Log)
				endPhase()
			}
			end()
		}
	}
	return nil
}

func (r *stageRun) stepReports(ctx context.Context) error {
	env, cfg := r.env, r.cfg
	r.arts = map[string]string{}
	for _, tr := range r.runs {
		base := "integration/" + tr.Target + "/"
		for _, sc := range tr.Scenarios {
			if p, _ := env.Report.WriteFile(base+sc.Scenario+".log", []byte(sc.Log)); p != "" {
				r.arts[tr.Target+"/"+sc.Scenario] = base + sc.Scenario + ".log"
			}
			if sc.Snapshot != nil {
				_, _ = env.Report.WriteFile(base+sc.Scenario+".snapshot.txt", []byte(sc.Snapshot.Text())) // a diagnostic beside the verdict, which stands without it
			}
		}
		var b strings.Builder
		for _, d := range tr.Diff {
			fmt.Fprintf(&b, "%s\n  fresh:   %s\n  upgrade: %s\n", d.Key, show(d.A), show(d.B))
		}
		if len(tr.Scenarios) > 1 {
			if p, _ := env.Report.WriteFile(base+"diff.txt", []byte(b.String())); p != "" {
				r.arts[tr.Target+"/diff"] = base + "diff.txt"
			}
		}
	}
	r.data = Summarise(r.runs, cfg.Version, cfg.Previous, r.shard)
	r.data.Inputs = r.in
	if p, err := env.Report.WriteJUnit("junit-integration.xml", JUnit(r.runs, r.started, r.attach)); err != nil {
		return errs.Infraf("integration: write JUnit: %w", err)
	} else if p != "" {
		r.reports = append(r.reports, p)
	}
	if p, _ := env.Report.WriteJSON("integration.json", r.data); p != "" {
		r.reports = append(r.reports, p)
	}
	link := func(target, phase string) string {
		a := r.attach(target, phase)
		base := cfg.ArtifactsURL
		if base == "" && env.CI.JobURL != "" {
			base = strings.TrimRight(env.CI.JobURL, "/") + "/artifacts/file"
		}
		if a == "" || base == "" {
			return ""
		}
		return strings.TrimRight(base, "/") + "/" + a
	}
	comment, err := Comment(CommentInput{Data: r.data, JobURL: env.CI.JobURL, Link: link})
	if err != nil {
		return errs.Infraf("integration: render comment: %w", err)
	}
	r.comment = comment
	if p, _ := env.Report.WriteFile("integration-comment.md", []byte(comment)); p != "" {
		r.reports = append(r.reports, p)
	}
	r.data.Reports = r.reports
	return nil
}

// attach is the artifact of a target's scenario ("diff": its diff), as a
// path relative to the repository when the report dir is inside it.
func (r *stageRun) attach(target, phase string) string {
	a, ok := r.arts[target+"/"+phase]
	if !ok || r.env.Report == nil || r.env.Report.Path == "" {
		return ""
	}
	full := filepath.Join(r.env.Report.Path, a)
	if rel, err := filepath.Rel(r.env.Repo, full); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return full
}

func (r *stageRun) stepComment(ctx context.Context) error {
	env, cfg := r.env, r.cfg
	if env.CI.MergeRequest <= 0 || (cfg.Comment != nil && !*cfg.Comment) || env.Forge == nil || !gitops.Can(env.Forge).Writes {
		return nil
	}
	marker := "pipeline-integration"
	if r.shard != "" {
		marker += "-shard-" + strings.ReplaceAll(r.shard, "/", "-of-")
	}
	// A fresh bounded context: the verdict so far is said also when the
	// run was cancelled.
	fctx, cancel := stages.Final(ctx)
	err := env.Forge.UpsertComment(fctx, gitops.CommentTarget{MergeRequest: env.CI.MergeRequest}, marker, r.comment)
	cancel()
	if err != nil {
		// The verdict is in the reports; a comment that did not post is
		// said loudly but does not hide it.
		env.Log.Warnf("integration: MR comment not posted: %v", err)
	}
	return nil
}

func (r *stageRun) stepVerdict(ctx context.Context) error {
	t := r.data.Totals
	summary := fmt.Sprintf("%d passed, %d failed, %d errors, %d skipped on %d target(s)", t.Passed, t.Failed, t.Errors, t.Skipped, len(r.runs))
	res := &stages.Result{Summary: summary, Data: r.data}
	var broken []string
	for _, td := range r.data.Targets {
		if len(td.Infra) > 0 {
			broken = append(broken, td.Target)
		}
	}
	var err error
	switch {
	case len(broken) > 0:
		res.Outcome = stages.Failed
		err = errs.New(errs.Infra, fmt.Errorf("integration: target(s) %s could not be used: %s", strings.Join(broken, ", "), summary),
			"see the <error> cases in junit-integration.xml; the verdict on the change is incomplete")
	case t.Failed > 0 || t.Errors > 0:
		res.Outcome = stages.Failed
		err = errs.Failuref("integration: %s", summary)
	default:
		res.Outcome = stages.Passed
	}
	// The verdict on the commit, for later jobs and `pipeline serve`.
	handOnVerdict(ctx, r.env, res, t, r.in, r.shard)
	r.res = res
	return err
}
