package handoff

import (
	"context"
	"fmt"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
)

// Sources are where a consuming stage looks for the hand-offs of earlier
// stages, in this order: this process (`pipeline run`), the report dir
// (the earlier job's artifacts), the store by commit.
type Sources struct {
	InProcess *Set
	ReportDir string
	// Commit is the commit this job works on (CI commit sha, else HEAD). A
	// report dir hand-off of another commit is stale and not used.
	Commit string
	// Store opens the artifact store; called only when needed.
	Store func(ctx context.Context) (artifacts.Store, error)
}

// Where a hand-off was found.
const (
	FromProcess   = "this run"
	FromReportDir = "the report dir"
	FromStore     = "the artifact store"
)

// Build finds the build's hand-off. A nil Build and a nil error: there is
// none anywhere (no build of this commit was run or published).
func (s Sources) Build(ctx context.Context) (*Build, string, error) {
	if s.InProcess != nil && s.InProcess.Build != nil {
		return s.InProcess.Build, FromProcess, nil
	}
	return find(ctx, s, func(b *Build) string { return b.Commit })
}

// Template finds the template stage's hand-off, like Build.
func (s Sources) Template(ctx context.Context) (*Template, string, error) {
	if s.InProcess != nil && s.InProcess.Template != nil {
		return s.InProcess.Template, FromProcess, nil
	}
	return find(ctx, s, func(t *Template) string { return t.Commit })
}

// find loads a T from the report dir, else from the store's commits/<sha>/
// pointer; it returns where it was found, "" and nil when nowhere.
func find[T any, PT interface {
	*T
	Value
}](ctx context.Context, s Sources, commitOf func(PT) string) (PT, string, error) {
	var local T
	ok, err := Load(s.ReportDir, PT(&local))
	if err != nil {
		return nil, "", err
	}
	if ok && (s.Commit == "" || commitOf(&local) == "" || commitOf(&local) == s.Commit) {
		return &local, FromReportDir, nil
	}
	if s.Commit == "" || s.Store == nil {
		return nil, "", nil
	}
	st, err := s.Store(ctx)
	if err != nil {
		return nil, "", err
	}
	var stored T
	ok, err = Fetch(ctx, st, CommitKey(s.Commit, PT(&stored).Name()), &stored)
	if err != nil {
		return nil, "", fmt.Errorf("the %s hand-off of commit %.12s: %w", PT(&stored).Name(), s.Commit, err)
	}
	if !ok {
		return nil, "", nil
	}
	return &stored, FromStore, nil
}
