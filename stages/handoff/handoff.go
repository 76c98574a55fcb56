// Package handoff is the contract between stages: the typed values a stage
// produces for the stages after it, and where a later job finds them.
//
// One value per producing stage:
//
//	build.go     Build: build id, commit, meta-package, lock, local dir, store URLs
//	template.go  Template: key, version, image, manifest and catalog URLs
//	verdict.go   Verdict: a stage's verdict on a commit (integration), the
//	             document `pipeline serve` answers MR status checks from
//
// Each value travels three ways, and a consumer looks in this order:
//
//  1. in process: `pipeline run` hands the values of earlier stages on (Set);
//  2. the report dir: <report dir>/handoff/<stage>.json, which the CI file
//     keeps as job artifacts (Save, Load);
//  3. the artifact store, by commit: a job on another runner with only the
//     commit sha and the store's credentials finds them (Publish, Find).
//
// Each value also renders the dotenv variables later CI jobs get; this
// package is the one place that names each PIPELINE_* variable of a
// hand-off. fetch.go downloads a published build by its manifest, verified
// by sha256; production.go finds the production build (the last release).
package handoff

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/atomicfile"
)

// Dir is the folder of the report dir that holds the hand-offs.
const Dir = "handoff"

// Value is a stage's hand-off.
type Value interface {
	// Name names the value: the producing stage ("build", "template"), or
	// a verdict's stage and shard. The report dir file is <name>.json.
	Name() string
	// Dotenv is the variables later CI jobs get from it.
	Dotenv() map[string]string
	// Keys are the store keys it is published under; the first is
	// the canonical one, the others pointers (by commit).
	Keys() []string
}

// Set is the hand-offs of one run, passed in process from stage to stage
// by `pipeline run`. A nil field: that stage has not run in this process.
type Set struct {
	Build       *Build
	Template    *Template
	Integration *Verdict
}

// Values are the hand-offs present, in stage order.
func (s *Set) Values() []Value {
	var out []Value
	if s.Build != nil {
		out = append(out, s.Build)
	}
	if s.Template != nil {
		out = append(out, s.Template)
	}
	if s.Integration != nil {
		out = append(out, s.Integration)
	}
	return out
}

// File is where v is saved below the report dir.
func File(reportDir, name string) string {
	return filepath.Join(reportDir, Dir, name+".json")
}

// Save writes v to <reportDir>/handoff/<name>.json (atomically).
func Save(reportDir string, v Value) (string, error) {
	if reportDir == "" {
		return "", nil
	}
	data, err := encode(v)
	if err != nil {
		return "", err
	}
	p := File(reportDir, v.Name())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("hand-off %s: %w", v.Name(), err)
	}
	if err := atomicfile.Write(p, data); err != nil {
		return "", fmt.Errorf("hand-off %s: %w", p, err)
	}
	return p, nil
}

// Load reads <reportDir>/handoff/<name>.json into v. found is false when
// there is no such file (the job got no artifacts from that stage).
func Load(reportDir string, v Value) (found bool, err error) {
	if reportDir == "" {
		return false, nil
	}
	p := File(reportDir, v.Name())
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("hand-off %s: %w", p, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("hand-off %s: %w (delete it, or run the %s stage again)", p, err, v.Name())
	}
	return true, nil
}

// Publish stores v under each of its keys: the canonical one first, the
// pointers after, so a pointer never names a missing document.
func Publish(ctx context.Context, st artifacts.Store, v Value) ([]artifacts.Object, error) {
	data, err := encode(v)
	if err != nil {
		return nil, err
	}
	var out []artifacts.Object
	for _, k := range v.Keys() {
		obj, err := st.Put(ctx, k, bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return out, fmt.Errorf("publish the %s hand-off to %s: %w", v.Name(), st.URL(k), err)
		}
		out = append(out, obj)
	}
	return out, nil
}

// Fetch reads the document at key into v. found is false when the store
// has no such key.
func Fetch(ctx context.Context, st artifacts.Store, key string, v any) (found bool, err error) {
	var b bytes.Buffer
	if err := st.Get(ctx, key, &b); err != nil {
		if errors.Is(err, artifacts.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("read %s: %w", st.URL(key), err)
	}
	if err := json.Unmarshal(b.Bytes(), v); err != nil {
		return false, fmt.Errorf("read %s: %w", st.URL(key), err)
	}
	return true, nil
}

// CommitKey is the store key of stage's hand-off for commit sha:
// commits/<sha>/<stage>.json.
func CommitKey(sha, stage string) string {
	return path.Join("commits", sha, stage+".json")
}

func encode(v Value) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("hand-off %s: %w", v.Name(), err)
	}
	return append(data, '\n'), nil
}
