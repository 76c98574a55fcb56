package build

// Publishing to the artifact store, and what --dry-run says instead.

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/artifacts"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build/dist"
)

func publishStep(ctx context.Context, env *stages.Env, store artifacts.Store, s settings, out *Output, prefix string) error {
	out.Store = store.URL(prefix)
	env.Log.Infof("publishing to %s", out.Store)
	sent, reused := 0, 0
	objs, err := artifacts.PublishDir(ctx, store, prefix, s.outDir, func(o artifacts.Object, was bool) {
		if was {
			reused++
		} else {
			sent++
		}
		env.Log.Debugf("published %s (%d bytes, sha256 %.16s, %s)", o.Key, o.Size, o.SHA256, map[bool]string{true: "already there", false: "uploaded, verified"}[was])
	})
	out.Artifacts, out.Uploaded, out.Reused = objs, sent, reused
	if err != nil {
		return err
	}
	if out.APT != nil {
		out.APT.URL = store.URL(prefix + "/apt")
		opts := []string{}
		if out.APT.Signed {
			out.APT.KeyURL = store.URL(prefix + "/apt/" + KeyFile)
		} else {
			opts = append(opts, "trusted=yes")
		}
		out.APT.Source = fmt.Sprintf("deb %s%s %s %s", bracket(opts), out.APT.URL, out.APT.Suite, out.APT.Component)
	}
	if out.YUM != nil {
		out.YUM.URL = store.URL(prefix + "/yum")
	}
	out.LockURL = store.URL(prefix + "/" + dist.LockFile)
	m, err := artifacts.WriteManifest(ctx, store, prefix, artifacts.Manifest{
		Build: out.Revision.BuildID(), Version: out.Revision.Version, Commit: out.Revision.Commit, Objects: objs,
	})
	if err != nil {
		return err
	}
	out.Manifest = &m
	env.Log.Infof("published %d file(s) (%d uploaded and verified, %d already there) and the manifest %s", len(objs), sent, reused, m.URL)
	return nil
}

func bracket(opts []string) string {
	if len(opts) == 0 {
		return ""
	}
	return "[" + strings.Join(opts, " ") + "] "
}

func dryRun(ctx context.Context, env *stages.Env, s settings, out *Output, prefix string) error {
	plan := &Plan{Order: Order(s.cfg.Components), Commands: map[string]string{}, Prefix: prefix}
	for _, c := range s.cfg.Components {
		if c.Command != "" {
			plan.Commands[c.Name] = c.Command
		} else {
			plan.Commands[c.Name] = "(prebuilt: " + c.Prebuilt + ")"
		}
		if files, err := findPackages(env.Repo, c); err == nil {
			plan.Found = append(plan.Found, files...)
		}
	}
	sort.Strings(plan.Found)
	plan.Store = env.Config.Artifacts.URL
	if plan.Store == "" {
		plan.Store = "file://.pipeline/artifacts"
	}
	out.Store = strings.TrimRight(plan.Store, "/") + "/" + prefix
	out.DryRun = plan
	for _, n := range plan.Order {
		env.Log.Infof("dry run: would build component %s: %s", n, plan.Commands[n])
	}
	env.Log.Infof("dry run: would lock the packages, build %s %s, write the repositories into %s and publish them to %s (nothing is run, written or uploaded)",
		s.name, out.Revision.Version, s.outDir, out.Store)
	return nil
}
