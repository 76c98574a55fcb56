package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/rootfs"
	"github.com/pipeline-ci/pipeline/stages"
)

// BootstrapSpec is the base integration.bootstrap describes, defaults
// applied, without the two inputs read from the machine (the mirror state
// and mmdebstrap's version). Documentation is kept: a target is a model of
// a real server, and suites may check files under /usr/share/doc.
func BootstrapSpec(b config.IntegrationBootstrap) rootfs.Spec {
	pkgs := b.Packages
	if pkgs == nil {
		pkgs = config.DefaultBootstrapPackages
	}
	return rootfs.Spec{Suite: b.Suite, Mirror: b.Mirror, Components: b.Components, Variant: b.Variant,
		Packages: pkgs, KeepDocs: true}.Normal()
}

// BootstrapCacheDir is where the bases are kept: cache_dir (relative to
// the repository), else $XDG_CACHE_HOME/pipeline/rootfs, else
// /var/cache/pipeline/rootfs.
func BootstrapCacheDir(b config.IntegrationBootstrap, repo string, lookup func(string) (string, bool)) string {
	switch {
	case b.CacheDir != "" && filepath.IsAbs(b.CacheDir):
		return b.CacheDir
	case b.CacheDir != "":
		return filepath.Join(repo, b.CacheDir)
	}
	if x, ok := lookup("XDG_CACHE_HOME"); ok && filepath.IsAbs(x) {
		return filepath.Join(x, "pipeline", "rootfs")
	}
	return "/var/cache/pipeline/rootfs"
}

// prepareBase gives the chroot and container targets that name no root
// filesystem of their own the bootstrapped base: from the cache when its
// key is there ("reused base KEY"), else built with mmdebstrap. With
// --dry-run it says which and builds nothing.
func prepareBase(ctx context.Context, env *stages.Env, targets []config.IntegrationTarget) ([]config.IntegrationTarget, error) {
	var users []string
	unpack := false
	for _, t := range targets {
		if t.NeedsBootstrap() {
			users = append(users, t.Name)
			unpack = unpack || t.Runner == "chroot"
		}
	}
	if len(users) == 0 {
		return targets, nil
	}
	end := env.Log.Section("integration_base", "integration: base root filesystem of "+strings.Join(users, ", "))
	defer end()
	boot := env.Config.Integration.Bootstrap
	cache := rootfs.Cache{Dir: BootstrapCacheDir(boot, env.Repo, env.Lookup), Log: func(m string) { env.Log.Info(m) },
		APTCache: rootfs.SharedAPTCache(env.Lookup)}
	spec := BootstrapSpec(boot)
	spec.Mmdebstrap = rootfs.MmdebstrapVersion(ctx)
	state, err := rootfs.MirrorState(ctx, spec.Source())
	spec.MirrorState = state
	if err != nil {
		// Without the mirror's state there is no key; a base made from the
		// same inputs at an earlier state still serves (and no build could
		// reach the mirror anyway).
		earlier, ok := cache.FindEarlier(spec)
		if !ok && env.DryRun {
			env.Log.Warnf("dry run: would bootstrap a base (%s) with mmdebstrap into %s for %s, but integration.bootstrap: %v: a run now would fail",
				spec.Describe(), cache.Dir, strings.Join(users, ", "), err)
			return targets, nil
		}
		if !ok {
			return nil, errs.New(errs.Infra, fmt.Errorf("integration.bootstrap: %w, and %s holds no base made from the same inputs", err, cache.Dir),
				"check integration.bootstrap.mirror and that this machine reaches it, or give the targets a rootfs:/tarball: of their own")
		}
		env.Log.Warnf("integration.bootstrap: %v: using base %s, made %s from an earlier state of the mirror", err, earlier.Key, earlier.Built.Format(time.RFC3339))
		spec = earlier.Spec
	}
	key := spec.Key()
	if env.DryRun {
		if b, ok := cache.Find(spec); ok {
			env.Log.Infof("dry run: would reuse base %s (%s, made %s) for %s", key, b.Dir, b.Built.Format(time.RFC3339), strings.Join(users, ", "))
		} else {
			env.Log.Infof("dry run: would bootstrap base %s (%s; %s) with mmdebstrap into %s, 1 to 6 minutes, for %s",
				key, spec.Describe(), spec.Mmdebstrap, filepath.Join(cache.Dir, key), strings.Join(users, ", "))
		}
		return targets, nil
	}
	start := time.Now()
	b, err := cache.Get(ctx, spec, unpack)
	if err != nil {
		return nil, errs.New(errs.Infra, fmt.Errorf("integration.bootstrap: base %s: %w", key, err),
			"see mmdebstrap's output above; check integration.bootstrap (suite, mirror, packages) and that this machine reaches the mirror")
	}
	if b.Reused {
		env.Log.Infof("reused base %s (%s, made %s)", b.Key, b.Dir, b.Built.Format(time.RFC3339))
	} else {
		env.Log.Infof("built base %s in %s (%s)", b.Key, time.Since(start).Round(time.Second), b.Dir)
	}
	out := make([]config.IntegrationTarget, len(targets))
	for i, t := range targets {
		if t.NeedsBootstrap() {
			switch t.Runner {
			case "chroot":
				t.Rootfs = b.Rootfs
			case "container":
				t.Tarball = b.Tarball
			}
		}
		out[i] = t
	}
	return out, nil
}

// baseOnly is --base-only: the base of the targets, and nothing else.
func baseOnly(ctx context.Context, env *stages.Env, targets []config.IntegrationTarget) (*stages.Result, error) {
	var users []string
	for _, t := range targets {
		if t.NeedsBootstrap() {
			users = append(users, t.Name)
		}
	}
	if len(users) == 0 {
		return &stages.Result{Outcome: stages.NoChange,
			Summary: "no selected target runs on the bootstrapped base (chroot/container targets without rootfs, image or tarball)"}, nil
	}
	ready, err := prepareBase(ctx, env, targets)
	if err != nil {
		return &stages.Result{Outcome: stages.Errored, Summary: firstLine(err.Error())}, err
	}
	if env.DryRun {
		return &stages.Result{Outcome: stages.DryRunned, Summary: "would make the base of " + strings.Join(users, ", ") + "; nothing else"}, nil
	}
	// --json: where the base is, for a script that pre-warms runners.
	data := map[string]any{"targets": users}
	for i, t := range targets {
		switch {
		case t.NeedsBootstrap() && t.Runner == "chroot":
			data["rootfs"] = ready[i].Rootfs
			data["key"] = filepath.Base(filepath.Dir(ready[i].Rootfs))
		case t.NeedsBootstrap() && t.Runner == "container":
			data["tarball"] = ready[i].Tarball
			data["key"] = filepath.Base(filepath.Dir(ready[i].Tarball))
		}
	}
	return &stages.Result{Outcome: stages.Passed, Data: data,
		Summary: fmt.Sprintf("base %s of %s ready; no suite run (--base-only)", data["key"], strings.Join(users, ", "))}, nil
}
