package handoff

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
)

// Verdict is what a stage concluded about one commit: the integration
// stage's hand-off, and the document `pipeline serve` answers a merge
// request's external status check from. It is stored at
// verdicts/<sha>/<name>.json, where name is the stage, or
// "<stage>-shard-<i>-of-<n>" for one shard of a sharded run (each shard
// writes its own, so the last shard to finish never hides another's
// failure; a reader lists verdicts/<sha>/ and fails if any failed).
type Verdict struct {
	Stage   string `json:"stage"`
	Commit  string `json:"commit"`
	Outcome string `json:"outcome"` // passed, failed, error (as stages.Outcome)
	Summary string `json:"summary"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"` // failures and errors
	// URL is where a person sees the details (the CI job), may be empty.
	URL  string    `json:"url,omitempty"`
	Time time.Time `json:"time"`
	// Shard is "i/n" when the verdict covers one shard of the targets.
	Shard string `json:"shard,omitempty"`
	// Version is the version under test, Previous the production version
	// the UPGRADE scenario started from (integration).
	Version  string `json:"version,omitempty"`
	Previous string `json:"previous,omitempty"`
}

// Verdict outcomes.
const (
	OutcomePassed = "passed"
	OutcomeFailed = "failed"
	OutcomeError  = "error"
)

// VerdictPrefix is the store folder of a commit's verdicts.
func VerdictPrefix(sha string) string { return path.Join("verdicts", sha) + "/" }

// VerdictKey is the store key of a verdict: verdicts/<sha>/<name>.json.
func VerdictKey(sha, name string) string { return path.Join("verdicts", sha, name+".json") }

// Name is the verdict's file name without .json: the stage, with the shard
// when there is one.
func (v *Verdict) Name() string {
	if v.Shard == "" {
		return v.Stage
	}
	return v.Stage + "-shard-" + strings.ReplaceAll(v.Shard, "/", "-of-")
}

// Keys: verdicts/<sha>/<name>.json.
func (v *Verdict) Keys() []string { return []string{VerdictKey(v.Commit, v.Name())} }

// Dotenv: PIPELINE_<STAGE>_PASSED and PIPELINE_<STAGE>_FAILED
// (PIPELINE_INTEGRATION_PASSED, PIPELINE_INTEGRATION_FAILED).
func (v *Verdict) Dotenv() map[string]string {
	p := "PIPELINE_" + strings.ToUpper(v.Stage)
	return map[string]string{p + "_PASSED": fmt.Sprint(v.Passed), p + "_FAILED": fmt.Sprint(v.Failed)}
}

// OK reports whether the verdict lets the commit through.
func (v *Verdict) OK() bool { return v.Outcome == OutcomePassed }

// OutcomePending is what CombinedVerdict says when the stage has not
// judged the commit yet (or not every shard has): never stored.
const OutcomePending = "pending"

// ShardVerdictKey is where the verdict of stage on sha is stored; shard is
// "" or "i/n".
func ShardVerdictKey(sha, stage, shard string) string {
	v := Verdict{Stage: stage, Commit: sha, Shard: shard}
	return VerdictKey(sha, v.Name())
}

var shaRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{7,64}$`) })

// ReadVerdict returns the verdict stored under key, or nil when there is none.
func ReadVerdict(ctx context.Context, st artifacts.Store, key string) (*Verdict, error) {
	var v Verdict
	found, err := Fetch(ctx, st, key, &v)
	if err != nil || !found {
		return nil, err
	}
	return &v, nil
}

// CombinedVerdict is the verdict of stage on sha as `pipeline serve` and
// `pipeline status --external-check` answer it: the unsharded document
// when there is one, else the shards' documents taken together (failed as
// soon as one shard failed, passed only when all n of n passed). Outcome
// is OutcomePending, with a summary saying what is missing, while the
// stage has not judged the commit.
func CombinedVerdict(ctx context.Context, st artifacts.Store, sha, stage string) (Verdict, error) {
	if !shaRe().MatchString(sha) {
		return Verdict{}, fmt.Errorf("verdict of %s: commit %q is not a hex sha", stage, sha)
	}
	objs, err := st.List(ctx, VerdictPrefix(sha)+stage)
	if err != nil {
		return Verdict{}, fmt.Errorf("verdicts of %s on %s: %w", stage, sha, err)
	}
	var shards []*Verdict
	for _, o := range objs {
		name := strings.TrimSuffix(path.Base(o.Key), ".json")
		if name != stage && !strings.HasPrefix(name, stage+"-shard-") {
			continue // another stage whose name starts the same
		}
		v, err := ReadVerdict(ctx, st, o.Key)
		if err != nil {
			return Verdict{}, err
		}
		if v == nil {
			continue
		}
		if v.Shard == "" {
			return *v, nil // a whole run's verdict wins over any shard's
		}
		shards = append(shards, v)
	}
	return combineShards(sha, stage, shards), nil
}

// combineShards folds the shards' verdicts: failed when any failed, passed
// when all n of n passed, pending otherwise.
func combineShards(sha, stage string, shards []*Verdict) Verdict {
	out := Verdict{Stage: stage, Commit: sha, Outcome: OutcomePending, Summary: "no verdict recorded yet"}
	if len(shards) == 0 {
		return out
	}
	total := 0
	seen := map[string]bool{}
	var failed []string
	for _, v := range shards {
		_, n, _ := strings.Cut(v.Shard, "/")
		if t, err := strconv.Atoi(n); err == nil && t > total {
			total = t
		}
		seen[v.Shard] = true
		out.Passed += v.Passed
		out.Failed += v.Failed
		if v.Time.After(out.Time) {
			out.Time, out.URL = v.Time, v.URL
		}
		if v.Outcome != OutcomePassed {
			failed = append(failed, v.Shard)
			out.URL = v.URL
		}
	}
	switch {
	case len(failed) > 0:
		out.Outcome = OutcomeFailed
		out.Summary = fmt.Sprintf("shard(s) %s failed: %d passed, %d failed so far", strings.Join(failed, ", "), out.Passed, out.Failed)
	case len(seen) >= total:
		out.Outcome = OutcomePassed
		out.Summary = fmt.Sprintf("all %d shards passed: %d passed", total, out.Passed)
	default:
		out.Summary = fmt.Sprintf("%d of %d shards recorded, all passed so far", len(seen), total)
	}
	return out
}
