package release

import (
	"context"
	"fmt"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/release"
	"github.com/pipeline-ci/pipeline/stages"
)

// FullChangelog rebuilds the whole changelog from every release tag of the
// history of HEAD: one git log walk, one pass to split it by tag.
func FullChangelog(ctx context.Context, env *stages.Env) (string, error) {
	r := &run{env: env, cfg: env.Config.Release, forge: env.Forge, git: gitops.Open(env.Repo)}
	if r.forge == nil {
		r.forge = gitops.None{}
	}
	r.links = linksFor(gitops.Can(r.forge), env.CI.WebURL)
	t, err := r.templates()
	if err != nil {
		return "", err
	}
	refs, err := r.tagRefs(ctx)
	if err != nil {
		return "", err
	}
	tags, ignored := release.SortTags(refs, r.cfg.TagPrefix, nil)
	if len(ignored) > 0 {
		env.Log.Infof("ignored %d tag(s) that are not %q + a semantic version: %s", len(ignored), r.cfg.TagPrefix, listSome(ignored, 5))
	}
	commits, err := Walk(ctx, r.git, "HEAD", "")
	if err != nil {
		return "", err
	}
	// Only tags in this history.
	in := map[string]bool{}
	for _, c := range commits {
		in[c.SHA] = true
	}
	var mine []release.Tag
	for _, tg := range tags {
		if in[tg.SHA] {
			mine = append(mine, tg)
		}
	}
	env.Log.Infof("changelog of %d release(s) over %d commit(s)", len(mine), len(commits))
	policy, err := Policy(r.cfg)
	if err != nil {
		return "", err
	}
	text, err := release.FullChangelog(commits, mine, release.ChangesInput{Labels: r.labels(), Links: r.links, Policy: policy}, t)
	if err != nil {
		return "", errs.WithHint(fmt.Errorf("changelog: %w", err), "fix release.templates.changelog")
	}
	return text, nil
}
