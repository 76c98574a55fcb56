// Package stages holds the Stage contract and the ordered runner behind
// `pipeline run`. Each stage is its own package below this one (build,
// template, integration, promote, release) and is an ordered list of steps
// whose names appear in the log.
package stages

import (
	"context"
	"io"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// Env is what every stage is given: the repository, its configuration, the
// CI context, the log, the report dir and the forge. Stages take their
// dependencies from here, never from globals or os.Getenv.
type Env struct {
	Repo   string // repository root (--repo)
	Config *config.Config
	CI     ci.Context
	Log    *logging.Logger
	Report *report.Dir
	Forge  gitops.Forge // never nil: the "none" forge when there is no server
	DryRun bool
	// Out is for human-readable results (stdout); nil under --json.
	Out io.Writer
	// Handoff holds what the stages before this one produced in this
	// process (`pipeline run`); a producing stage fills its field. Nil
	// when nothing is handed on in process. See Env.Handoffs.
	Handoff *handoff.Set
}

// Outcome is how a stage ended.
type Outcome string

const (
	Passed    Outcome = "passed"
	Failed    Outcome = "failed"  // exit 1
	NoChange  Outcome = "nothing" // nothing to do: not a failure
	Skipped   Outcome = "skipped"
	DryRunned Outcome = "dry-run"
	// Errored: the stage could not run to a verdict (bad configuration,
	// unreachable infrastructure, not implemented). Exit 2 or 3.
	Errored Outcome = "error"
	// Cancelled: the run was stopped from outside (SIGTERM from a
	// cancelled CI job, Ctrl-C) before the stage reached a verdict. Exit 3.
	Cancelled Outcome = "cancelled"
)

// Result is what a stage reports: a one-line summary for people, dotenv
// variables for later CI jobs, and stage-specific data for --json.
type Result struct {
	Stage   string            `json:"stage"`
	Outcome Outcome           `json:"outcome"`
	Summary string            `json:"summary"`
	Dotenv  map[string]string `json:"dotenv,omitempty"`
	Data    any               `json:"data,omitempty"`
	Seconds float64           `json:"seconds"`
}

// Stage is one capability of the pipeline.
type Stage interface {
	// Name is the stage's name as used on the command line and in config.
	Name() string
	// Run does the stage's work. A finding (tests failed, culprit found)
	// returns a Result with Outcome Failed and an errs.Failure error;
	// broken input an errs.Usage error; unreachable infrastructure an
	// errs.Infra error.
	Run(ctx context.Context, env *Env) (*Result, error)
}

// Func adapts a function to the Stage interface.
type Func struct {
	StageName string
	Fn        func(ctx context.Context, env *Env) (*Result, error)
}

func (f Func) Name() string                                       { return f.StageName }
func (f Func) Run(ctx context.Context, env *Env) (*Result, error) { return f.Fn(ctx, env) }

// Lookup reads one of the job's environment variables; none when the Env
// was built without one (tests, library callers).
func (e *Env) Lookup(name string) (string, bool) {
	if e.CI.Env == nil {
		return "", false
	}
	return e.CI.Env.Lookup(name)
}
