package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// externalCheck are the --external-check flags of `pipeline status`.
type externalCheck struct {
	name string
	mr   int
}

// checkResult is the --json data of `pipeline status --external-check`.
type checkResult struct {
	Check   string `json:"check"`
	CheckID int    `json:"check_id"`
	MR      int    `json:"mr"`
	SHA     string `json:"sha"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	// Answered is true when GitLab took the answer; Skipped says why not.
	Answered bool   `json:"answered"`
	Skipped  string `json:"skipped,omitempty"`
}

// checkIDFinder finds a check's id by name (GitLab).
type checkIDFinder interface {
	ExternalStatusCheckID(ctx context.Context, name string) (int, error)
}

func answerExternalCheck(ctx context.Context, a *app, c externalCheck, state, sha string) error {
	if state != "" && !slices.Contains(gitops.ExternalCheckStates, state) {
		return errs.New(errs.Usage, fmt.Errorf("status --external-check: --state %q", state), "use "+strings.Join(gitops.ExternalCheckStates, ", ")+", or leave it out to answer from the recorded verdict")
	}
	env, err := a.setup(ctx)
	if err != nil {
		return err
	}
	res := checkResult{Check: c.name, MR: c.mr, SHA: sha, State: state}
	if res.MR == 0 {
		res.MR = env.CI.MergeRequest
	}
	if res.MR == 0 {
		return errs.New(errs.Usage, fmt.Errorf("status --external-check %s: no merge request known", c.name), "run it in a merge-request pipeline, or pass --mr IID")
	}
	if res.SHA == "" {
		res.SHA = gitops.StatusSHA(env.CI)
	}
	if res.SHA == "" {
		return errs.New(errs.Usage, fmt.Errorf("status --external-check %s: no commit known", c.name), "pass --sha (the MR's head commit)")
	}
	if !gitops.Can(env.Forge).ExternalStatusChecks {
		return errs.New(errs.Usage, fmt.Errorf("status --external-check: the forge is %s; external status checks are GitLab's", env.Forge.Kind()), "set forge.type gitlab (or run it in GitLab CI)")
	}
	if ch := env.Config.Serve.Check(c.name); ch != nil {
		res.CheckID = ch.ID
	}
	if res.CheckID == 0 {
		f, ok := env.Forge.(checkIDFinder)
		if !ok {
			return errs.Usagef("status --external-check %s: give its id in serve.checks[].id", c.name)
		}
		if res.CheckID, err = f.ExternalStatusCheckID(ctx, c.name); err != nil {
			return err
		}
	}
	if res.State == "" {
		st, err := artifacts.Open(ctx, env.Config.Artifacts.URL, artifacts.Settings{Base: env.Repo, S3: env.Config.Artifacts.S3, Env: a.env})
		if err != nil {
			return err
		}
		v, err := handoff.CombinedVerdict(ctx, st, res.SHA, c.name)
		if err != nil {
			return errs.Infraf("status --external-check %s: %w", c.name, err)
		}
		res.State, res.Reason = v.Outcome, v.Summary
	}
	switch {
	case env.DryRun:
		res.Skipped = "dry run"
		env.Log.Infof("dry run: would answer status check %s (%d) on !%d at %s: %s", c.name, res.CheckID, res.MR, statusShort(res.SHA), res.State)
	default:
		err := env.Forge.SetExternalStatusCheck(ctx, res.MR, res.CheckID, res.SHA, res.State)
		if err != nil {
			if !errors.Is(err, gitops.ErrStaleSHA) {
				return err
			}
			res.Skipped = "the commit is no longer the MR's head"
			env.Log.Warnf("status check %s not answered: %v", c.name, err)
		} else {
			res.Answered = true
		}
	}
	if a.emitData(res) {
		return nil
	}
	if res.Answered {
		fmt.Fprintf(a.stdout, "status check %s=%s answered on !%d at %s\n", res.Check, res.State, res.MR, statusShort(res.SHA))
	} else {
		fmt.Fprintf(a.stdout, "status check %s=%s on !%d at %s not answered: %s\n", res.Check, res.State, res.MR, statusShort(res.SHA), res.Skipped)
	}
	return nil
}
