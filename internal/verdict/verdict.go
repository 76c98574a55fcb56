// Package verdict is the small per-commit document a stage leaves in the
// artifact store when it has judged a commit: verdicts/<sha>/<stage>.json
// with the stage, the commit, the outcome, a one-line summary, the counts
// and a link. `pipeline serve` answers the integration and promote
// external status checks from it, and the stages answer those checks
// themselves from it at their end (stages/verdict.go).
//
// A sharded integration run writes one document per shard
// (integration.shard-1-of-2.json, ...); Combined reads them as one verdict:
// failed as soon as one shard failed, passed only when every shard passed.
package verdict

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
)

// Verdict is what a stage concluded about one commit.
type Verdict struct {
	Stage   string    `json:"stage"`
	Commit  string    `json:"commit"`
	Outcome string    `json:"outcome"` // passed or failed
	Summary string    `json:"summary"`
	Passed  int       `json:"passed"`
	Failed  int       `json:"failed"`
	URL     string    `json:"url,omitempty"`
	Time    time.Time `json:"time"`
	// Shard is "I/N" for one shard of a sharded run, "" otherwise.
	Shard string `json:"shard,omitempty"`
}

// Outcomes of a verdict, and of Combined.
const (
	Passed  = "passed"
	Failed  = "failed"
	Pending = "pending" // Combined only: nothing (or not every shard) recorded yet
)

// Key is where the verdict of stage on sha is stored; shard is "" or "I/N".
func Key(sha, stage, shard string) string {
	name := stage
	if shard != "" {
		name += ".shard-" + strings.ReplaceAll(shard, "/", "-of-")
	}
	return "verdicts/" + sha + "/" + name + ".json"
}

var shaRe = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// Write stores v under Key.
func Write(ctx context.Context, st artifacts.Store, v Verdict) error {
	if !shaRe.MatchString(v.Commit) {
		return fmt.Errorf("verdict of %s: commit %q is not a hex sha", v.Stage, v.Commit)
	}
	if v.Outcome != Passed && v.Outcome != Failed {
		return fmt.Errorf("verdict of %s on %s: outcome %q: want passed or failed", v.Stage, v.Commit, v.Outcome)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	key := Key(v.Commit, v.Stage, v.Shard)
	if _, err := st.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("verdict %s: %w", key, err)
	}
	return nil
}

// Read returns the verdict stored under key, or nil when there is none.
func Read(ctx context.Context, st artifacts.Store, key string) (*Verdict, error) {
	var b bytes.Buffer
	if err := st.Get(ctx, key, &b); err != nil {
		if errors.Is(err, artifacts.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("verdict %s: %w", key, err)
	}
	var v Verdict
	if err := json.Unmarshal(b.Bytes(), &v); err != nil {
		return nil, fmt.Errorf("verdict %s: %w", key, err)
	}
	return &v, nil
}

// Combined is the verdict of stage on sha: the unsharded document when
// there is one, else the shards' documents taken together. It returns a
// Verdict with Outcome Pending (and a summary saying what is missing) when
// the stage has not judged the commit yet.
func Combined(ctx context.Context, st artifacts.Store, sha, stage string) (Verdict, error) {
	if !shaRe.MatchString(sha) {
		return Verdict{}, fmt.Errorf("verdict of %s: commit %q is not a hex sha", stage, sha)
	}
	objs, err := st.List(ctx, "verdicts/"+sha+"/"+stage+".")
	if err != nil {
		return Verdict{}, fmt.Errorf("verdicts of %s on %s: %w", stage, sha, err)
	}
	var shards []*Verdict
	for _, o := range objs {
		v, err := Read(ctx, st, o.Key)
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
	return combine(sha, stage, shards), nil
}

// combine folds the shards' verdicts: failed when any failed, passed when
// all N of N passed, pending otherwise.
func combine(sha, stage string, shards []*Verdict) Verdict {
	out := Verdict{Stage: stage, Commit: sha, Outcome: Pending, Summary: "no verdict recorded yet"}
	if len(shards) == 0 {
		return out
	}
	total := 0
	seen := map[string]bool{}
	var failedShards []string
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
		if v.Outcome == Failed {
			failedShards = append(failedShards, v.Shard)
			out.URL = v.URL
		}
	}
	switch {
	case len(failedShards) > 0:
		out.Outcome = Failed
		out.Summary = fmt.Sprintf("shard(s) %s failed: %d passed, %d failed so far", strings.Join(failedShards, ", "), out.Passed, out.Failed)
	case len(seen) >= total:
		out.Outcome = Passed
		out.Summary = fmt.Sprintf("all %d shards passed: %d passed", total, out.Passed)
	default:
		out.Summary = fmt.Sprintf("%d of %d shards recorded, all passed so far", len(seen), total)
	}
	return out
}
