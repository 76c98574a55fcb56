package stages

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/proc"
	"github.com/pipeline-ci/pipeline/internal/text"
	"github.com/sirupsen/logrus"
)

// Run runs the named stages in the order of all (the configured order), or
// every stage of all when names is empty. It stops at the first stage that
// fails and returns the results so far, the failing stage's included.
func Run(ctx context.Context, env *Env, all []Stage, names []string) ([]*Result, error) {
	selected, err := Select(all, names)
	if err != nil {
		return nil, err
	}
	var results []*Result
	for _, s := range selected {
		if stop := proc.Stopped(ctx); stop != nil {
			return results, errs.Infraf("%w before %s", stop, s.Name())
		}
		res, err := RunOne(ctx, env, s)
		if res != nil {
			results = append(results, res)
		}
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// RunOne runs one stage in its own log section, with the fields stage=NAME
// and commit=SHA on every line it logs, timing it and writing its dotenv
// variables. A stage that returns an error without a Result still gets one
// (Outcome Failed or Errored), so every report lists every stage that ran.
func RunOne(ctx context.Context, env *Env, s Stage) (*Result, error) {
	name := s.Name()
	senv := *env
	if senv.Log == nil {
		senv.Log = logging.Discard()
	}
	fields := logrus.Fields{"stage": name}
	if sha := env.CI.ShortSHA(); sha != "" {
		fields["commit"] = sha
	}
	senv.Log = senv.Log.With(fields)
	log := senv.Log

	end := log.Section("stage_"+name, "pipeline "+name)
	start := time.Now()
	status := StatusNameOf(s, &senv) // one status per shard or target job
	postStageStatus(ctx, &senv, status, "pending", "stage started")
	res, err := s.Run(ctx, &senv)
	cancelled := err != nil && errors.Is(proc.Stopped(ctx), proc.ErrCancelled)
	if cancelled {
		// Whatever the stage made of it, a cancelled run is no verdict:
		// exit 3, outcome cancelled, status canceled.
		stop := proc.Stopped(ctx)
		err = errs.New(errs.Infra, &cancelledError{stage: name, stop: stop, err: err},
			"the run was stopped from outside (a cancelled CI job, Ctrl-C) and decided nothing: run it again")
		if res == nil {
			res = &Result{}
		}
		res.Outcome, res.Summary = Cancelled, stop.Error()
	}
	if err != nil && res == nil {
		res, _ = ErrorResult(&Result{}, err)
	}
	if res != nil {
		res.Stage = name
		res.Seconds = time.Since(start).Seconds()
		if len(res.Dotenv) > 0 && !env.DryRun {
			if _, werr := env.Report.WriteDotenv(res.Dotenv); werr != nil && err == nil {
				err = errs.Infraf("%s: dotenv report: %w", name, werr)
			}
		}
		state := "success"
		switch {
		case cancelled:
			state = "canceled" // GitLab's word; GitHub's client maps it to "error"
		case err != nil:
			state = "failed"
		}
		// With a fresh bounded context: a cancelled job's status must not
		// stay "pending" because the run's own context is done.
		fctx, cancel := Final(ctx)
		postStageStatus(fctx, &senv, status, state, res.Summary)
		cancel()
		ol := log.WithField("outcome", string(res.Outcome))
		switch {
		case err != nil && errs.KindOf(err) == errs.Failure && underPromoteProbe(env):
			// The verdict a promote probe was run for (a bisection
			// expects bad ones): promote logs it once, at info; it is
			// no error of the run.
			ol.Warn(firstLine(err.Error()))
		case err != nil:
			ol.Error(firstLine(err.Error()))
		default:
			ol.Info(res.Summary)
		}
	}
	end()
	// Say which stage failed, once (errs.StageOf reads it back).
	err = errs.InStage(name, err)
	if err != nil {
		return res, err
	}
	return res, nil
}

// ErrorResult gives res the outcome of a stage that ended with err: Failed
// for a verdict (errs.Failure), else Errored, with err's first line as the
// summary. It returns res and err, for `return stages.ErrorResult(res, err)`.
func ErrorResult(res *Result, err error) (*Result, error) {
	res.Outcome, res.Summary = Errored, firstLine(err.Error())
	if errs.KindOf(err) == errs.Failure {
		res.Outcome = Failed
	}
	return res, err
}

// cancelledError is the error of a stage a cancel stopped: "STAGE:
// cancelled (SIGTERM): what the stage was doing" (the first line of its
// own error, whose hints are about verdicts there are none of).
type cancelledError struct {
	stage string
	stop  error // proc.Stopped
	err   error // the stage's
}

func (e *cancelledError) Error() string {
	msg := e.stage + ": " + e.stop.Error()
	if proc.IsStopped(e.err) {
		return msg
	}
	return msg + ": " + strings.TrimPrefix(firstLine(e.err.Error()), e.stage+": ")
}

// Hints: none of the stage's own, which are about a verdict there is
// none of (errs.HintOf).
func (e *cancelledError) Hints() []string { return nil }

func (e *cancelledError) Unwrap() []error { return []error{e.stop, e.err} }

// FinalTimeout bounds the last words of a run: the final commit status,
// the MR comment and reports sent after the stage's work ended.
const FinalTimeout = 15 * time.Second

// Final is the context for a run's last words: it is not cancelled with
// ctx (after a SIGTERM, the final status must still replace "pending"), and
// ends after FinalTimeout, so that a forge that does not answer cannot hold
// a cancelled job until the CI kills it.
func Final(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), FinalTimeout)
}

func firstLine(s string) string { return text.FirstLine(s) }

// Select picks the stages named, keeping the order of all. An unknown name
// is a usage error that lists the known ones.
func Select(all []Stage, names []string) ([]Stage, error) {
	if len(names) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		found := false
		for _, s := range all {
			if s.Name() == n {
				found = true
			}
		}
		if !found {
			known := make([]string, len(all))
			for i, s := range all {
				known[i] = s.Name()
			}
			return nil, errs.New(errs.Usage, fmt.Errorf("unknown stage %q", n),
				"the stages are "+strings.Join(known, ", "))
		}
		want[n] = true
	}
	var out []Stage
	for _, s := range all {
		if want[s.Name()] {
			out = append(out, s)
		}
	}
	return out, nil
}

// NotImplemented is a stage that says it does not exist yet and exits 2.
// It never pretends to succeed.
func NotImplemented(name string) Stage {
	return Func{StageName: name, Fn: func(context.Context, *Env) (*Result, error) {
		return nil, errs.New(errs.Usage, fmt.Errorf("stage %q is not implemented in this version of pipeline", name),
			"remove it from `stages:` in pipeline.yaml or upgrade pipeline")
	}}
}

// underPromoteProbe: this run is the test of one of `pipeline promote`'s
// probes (which sets PIPELINE_PROMOTE_TREE for it).
func underPromoteProbe(env *Env) bool {
	if env.CI.Env == nil {
		return false
	}
	v, ok := env.CI.Env.Lookup("PIPELINE_PROMOTE_TREE")
	return ok && v != ""
}
