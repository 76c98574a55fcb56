package handoff

import (
	"fmt"
	"path"
	"strings"
	"time"
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
