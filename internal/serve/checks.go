package serve

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/release"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// decide is the check's answer for the job: passed, failed or pending,
// and why.
func (s *Server) decide(ctx context.Context, j job) (status, reason string, err error) {
	switch j.check {
	case config.CheckTitle:
		ok, why := TitleOK(j.title, s.opts.Config.Title)
		if ok {
			return handoff.OutcomePassed, why, nil
		}
		return handoff.OutcomeFailed, why, nil
	case config.CheckIntegration, config.CheckPromote:
		if s.opts.Verdicts == nil {
			return handoff.OutcomePending, "no artifact store to read verdicts from", nil
		}
		v, err := s.opts.Verdicts.Verdict(ctx, j.sha, j.check)
		if err != nil {
			return "", "", err
		}
		return v.Outcome, v.Summary, nil
	}
	return "", "", fmt.Errorf("unknown check %q", j.check)
}

// TitleOK says whether an MR title is a Conventional Commit the release
// stage reads as such (squash and merge commits take the MR title), with a
// type and scope the configuration allows, and why not.
func TitleOK(title string, rules config.ServeTitle) (bool, string) {
	c := release.ParseConventional(title)
	switch {
	case !c.OK:
		return false, fmt.Sprintf("title %q is not a Conventional Commit: write type(scope): description, e.g. fix(boot): wait for the disk", title)
	case len(rules.Types) > 0 && !slices.Contains(rules.Types, c.Type):
		return false, fmt.Sprintf("type %q is not one of %s", c.Type, strings.Join(rules.Types, ", "))
	case c.Scope == "" && rules.RequireScope:
		return false, "a scope is required: type(scope): description"
	case c.Scope != "" && len(rules.Scopes) > 0 && !slices.Contains(rules.Scopes, c.Scope):
		return false, fmt.Sprintf("scope %q is not one of %s", c.Scope, strings.Join(rules.Scopes, ", "))
	}
	return true, fmt.Sprintf("%s, read by the release as %s", c.Type, c.Kind())
}

// StoreVerdicts reads the verdicts the stages recorded in an artifact store.
type StoreVerdicts struct{ Store artifacts.Store }

// Verdict is verdict.Combined: pending until the stage judged sha.
func (v StoreVerdicts) Verdict(ctx context.Context, sha, stage string) (handoff.Verdict, error) {
	return handoff.CombinedVerdict(ctx, v.Store, sha, stage)
}
