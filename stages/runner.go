package stages

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// Run runs the named stages in the order of all (the configured order), or
// every stage of all when names is empty. It stops at the first stage that
// fails and returns the results so far.
func Run(ctx context.Context, env *Env, all []Stage, names []string) ([]*Result, error) {
	selected, err := Select(all, names)
	if err != nil {
		return nil, err
	}
	var results []*Result
	for _, s := range selected {
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

// RunOne runs one stage in its own log section, timing it and writing its
// dotenv variables.
func RunOne(ctx context.Context, env *Env, s Stage) (*Result, error) {
	end := env.Log.Section("stage_"+s.Name(), "pipeline "+s.Name())
	start := time.Now()
	res, err := s.Run(ctx, env)
	end()
	if res != nil {
		res.Stage = s.Name()
		res.Seconds = time.Since(start).Seconds()
		if len(res.Dotenv) > 0 && !env.DryRun {
			if _, werr := env.Report.WriteDotenv(res.Dotenv); werr != nil && err == nil {
				err = errs.Infraf("%s: %w", s.Name(), werr)
			}
		}
	}
	if err != nil {
		return res, fmt.Errorf("%s: %w", s.Name(), err)
	}
	return res, nil
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
			return nil, errs.Usagef("unknown stage %q: the configured stages are %s", n, strings.Join(known, ", "))
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
