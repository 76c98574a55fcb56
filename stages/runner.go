package stages

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
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
		if err := ctx.Err(); err != nil {
			return results, errs.Infraf("interrupted before %s: %w", s.Name(), err)
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
	if err != nil && res == nil {
		res = &Result{Outcome: Errored, Summary: firstLine(err.Error())}
		if errs.KindOf(err) == errs.Failure {
			res.Outcome = Failed
		}
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
		if err != nil {
			state = "failed"
		}
		postStageStatus(ctx, &senv, status, state, res.Summary)
		ol := log.WithField("outcome", string(res.Outcome))
		if err != nil {
			ol.Error(firstLine(err.Error()))
		} else {
			ol.Info(res.Summary)
		}
	}
	end()
	if err != nil && !strings.HasPrefix(err.Error(), name+": ") {
		// Say which stage failed, once.
		err = fmt.Errorf("%s: %w", name, err)
	}
	if err != nil {
		return res, err
	}
	return res, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

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
