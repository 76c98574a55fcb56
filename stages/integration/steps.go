package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pipeline-ci/pipeline/runners"
)

// The steps of one scenario on one target, in the order they run. Their
// names are those of the scenario's log sections and of the phases in its
// log artifact.
const (
	StepStart       = "start"       // start the target, or reset it to its clean base
	StepSetup       = "setup"       // copy: items, then setup:
	StepBase        = "base"        // UPGRADE only: base: (default provision:) at the production version
	StepProvision   = "provision"   // provision: at the version under test
	StepIdempotence = "idempotence" // provision: again must change nothing
	StepSuites      = "suites"      // every check of every suite
	StepSnapshot    = "snapshot"    // the state, for the FRESH/UPGRADE diff
	StepLogs        = "logs"        // the log scan (runs even after a failed step)
)

// Steps lists the scenario's steps in order, each with what it does. A step
// returns an error only when the target broke down; a failed provisioning
// step (setup, base, provision) records its case and stops the steps that
// need it (sc.stopped says why), and the suites are then listed as skipped.
var Steps = []struct {
	Name string
	Run  func(r *targetRun, ctx context.Context) error
}{
	{StepStart, (*targetRun).stepStart},
	{StepSetup, (*targetRun).stepSetup},
	{StepBase, (*targetRun).stepBase},
	{StepProvision, (*targetRun).stepProvision},
	{StepIdempotence, (*targetRun).stepIdempotence},
	{StepSuites, (*targetRun).stepSuites},
	{StepSnapshot, (*targetRun).stepSnapshot},
	{StepLogs, (*targetRun).stepLogs},
}

// scenario runs the steps of one scenario; an error means the target broke
// down.
func (r *targetRun) scenario(ctx context.Context, first bool) error {
	r.first, r.stopped, r.mark = first, "", nil
	for _, s := range Steps {
		if r.stopped != "" && s.Name != StepSuites && s.Name != StepLogs {
			continue // nothing after a failed provisioning step means much
		}
		if err := s.Run(r, ctx); err != nil {
			return err
		}
	}
	return nil
}

func (r *targetRun) stepStart(ctx context.Context) error {
	r.phase(StepStart)
	run := r.t.Runner
	if r.first {
		r.progress("starting target")
		return run.Start(ctx)
	}
	r.progress("resetting target to its clean base")
	if err := run.Reset(ctx); err != nil {
		if errors.Is(err, runners.ErrNoReset) {
			return fmt.Errorf("%s cannot be reset to a clean state for the %s scenario: configure reset_command or limit its scenarios", r.t.Name, r.sc.Scenario)
		}
		return err
	}
	return nil
}

func (r *targetRun) stepSetup(ctx context.Context) error {
	r.phase(StepSetup)
	// The logs are marked before anything is installed, so that the scan
	// after a failed setup or base sees what they wrote; a successful
	// scenario marks them again before provision (stepProvision).
	if err := r.markLogs(ctx); err != nil {
		return err
	}
	for _, c := range r.p.Copy {
		r.progress("copying %s to %s", c.Src, c.Dest)
		if err := r.t.Runner.CopyIn(ctx, c.Src, c.Dest); err != nil {
			return err
		}
	}
	if r.p.Setup == "" {
		return nil
	}
	return r.provisioningStep(ctx, StepSetup, r.p.Setup, r.p.Version)
}

func (r *targetRun) stepBase(ctx context.Context) error {
	if r.sc.Scenario != Upgrade {
		return nil
	}
	r.phase(StepBase)
	base := r.p.Base
	if base == "" {
		base = r.p.Provision
	}
	return r.provisioningStep(ctx, StepBase, base, r.p.Previous)
}

func (r *targetRun) stepProvision(ctx context.Context) error {
	// The scan judges the change: what the production version's base
	// wrote is not held against it.
	if err := r.markLogs(ctx); err != nil {
		return err
	}
	r.phase(StepProvision)
	return r.provisioningStep(ctx, StepProvision, r.p.Provision, r.p.Version)
}

func (r *targetRun) stepIdempotence(ctx context.Context) error {
	if !r.p.Idempotence {
		return nil
	}
	r.phase(StepIdempotence)
	return r.idempotence(ctx)
}

func (r *targetRun) stepSuites(ctx context.Context) error {
	if r.stopped != "" {
		r.skipChecks("not run: " + r.stopped)
		return nil
	}
	r.phase(StepSuites)
	for _, s := range r.p.Suites {
		first, err := r.batch(ctx, s)
		if err != nil {
			return err
		}
		for _, c := range s.Checks {
			if !c.Applies(r.sc.Scenario) {
				r.add(Case{Suite: s.Name, Name: c.ID, Status: Skip, Message: "only on " + strings.Join(c.OnlyOn, ", ")})
				continue
			}
			cases, err := r.check(ctx, s, c, first[c])
			if err != nil {
				return err
			}
			for _, cs := range cases {
				r.add(cs)
			}
		}
	}
	return nil
}

func (r *targetRun) stepSnapshot(ctx context.Context) error {
	r.phase(StepSnapshot)
	snap, err := r.snapshot(ctx)
	if err != nil {
		return err
	}
	r.sc.Snapshot = snap
	return nil
}

func (r *targetRun) stepLogs(ctx context.Context) error {
	if r.mark == nil {
		return nil // the target broke down before anything was installed
	}
	return r.scanLogs(ctx, *r.mark)
}

// provisioningStep runs a provisioning command as a case of the provision
// pseudo-suite; when it fails the scenario stops (r.stopped).
func (r *targetRun) provisioningStep(ctx context.Context, name, script, version string) error {
	ok, err := r.step(ctx, name, script, version)
	if err == nil && !ok {
		r.stopped = name + " failed"
	}
	return err
}
