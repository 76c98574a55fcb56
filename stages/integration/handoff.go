package integration

// What integration takes from the stages before it (stages/handoff): the
// version under test and the build's files from the build's hand-off, and
// the production build (the UPGRADE scenario's starting point) from the
// artifact store; and the verdict it hands on.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/handoff"
)

// Inputs are what the run takes from elsewhere, for --json and the log.
type Inputs struct {
	Version     string `json:"version"`
	VersionFrom string `json:"version_from"` // "integration.version" or where the build's hand-off was found
	Build       string `json:"build,omitempty"`
	BuildDir    string `json:"build_dir,omitempty"`
	// Fetched is true when the build's files were downloaded from the
	// store (its output dir was missing on this runner).
	Fetched bool `json:"fetched,omitempty"`
	// Metapackage and APTSuite: the build's meta-package and APT suite
	// (from its hand-off), for the built-in provisioning.
	Metapackage string `json:"metapackage,omitempty"`
	APTSuite    string `json:"apt_suite,omitempty"`
	// noAPT: the build's hand-off says it published no APT repository.
	noAPT      bool
	Previous   string `json:"previous,omitempty"`
	Production string `json:"production,omitempty"` // store URL of the production build
	ProdDir    string `json:"production_dir,omitempty"`
}

// resolveInputs fills cfg.Version and cfg.Previous from the hand-offs when
// the configuration leaves them empty, fetches the build's output when it
// is not on this runner and downloads the production build. Under
// --dry-run it finds everything and downloads nothing.
func resolveInputs(ctx context.Context, env *stages.Env, cfg *config.Integration, targets []config.IntegrationTarget) (*Inputs, error) {
	in := &Inputs{Version: cfg.Version, VersionFrom: "integration.version", Previous: cfg.Previous}
	src := env.Handoffs(ctx)
	build, from, err := src.Build(ctx)
	if err != nil {
		if cfg.Version == "" {
			return in, errs.New(errs.Infra, fmt.Errorf("integration.version is empty and the build's hand-off could not be read: %w", err),
				"check that the artifact store is reachable (artifacts.url and its credentials), or set integration.version")
		}
		env.Log.Warnf("the build's hand-off could not be read (%v): testing integration.version %s as configured", err, cfg.Version)
		build = nil
	}
	if cfg.Version == "" {
		if build == nil {
			// A version written as ${VAR:-} that came out empty: say where.
			if err := checkVersion(env.Config); err != nil {
				return in, err
			}
			where := "this run, " + handoff.File(src.ReportDir, "build")
			if src.Commit != "" {
				where += " or the artifact store (" + handoff.CommitKey(src.Commit, "build") + ")"
			}
			return in, errs.New(errs.Usage, fmt.Errorf("integration.version is empty and no build of this commit handed one on (looked in %s)", where),
				"run `pipeline build` first (in CI: a build job before this one, its report dir as artifacts or the same artifact store), or set integration.version")
		}
		cfg.Version, in.Version, in.VersionFrom = build.Version, build.Version, from
	}
	if build != nil {
		in.Build = build.Store
		in.Metapackage, in.APTSuite, in.noAPT = build.Metapackage, build.APTSuite, build.APTURL == ""
		if err := fetchBuild(ctx, env, build, in); err != nil {
			return in, err
		}
		env.Log.Infof("version under test %s (%s); build %s of commit %.12s (hand-off from %s)", in.Version, in.VersionFrom, build.ID, build.Commit, from)
	} else {
		env.Log.Infof("version under test %s (%s); no build hand-off of this commit", in.Version, in.VersionFrom)
	}

	if !needsProduction(cfg, targets) {
		return in, nil
	}
	prefix := tagPrefix(env, build)
	version := cfg.Production.Version
	if version == "" {
		v, err := lastRelease(ctx, env.Repo, prefix, in.Version)
		if err != nil {
			return in, err
		}
		version = v
	}
	st, err := env.ReadStore(ctx)
	if err != nil {
		return in, err
	}
	prod, err := handoff.FindProduction(ctx, st, version)
	if errors.Is(err, handoff.ErrNoBuild) {
		return in, errs.New(errs.Usage, fmt.Errorf("integration: the UPGRADE scenario starts from production version %s, but the artifact store %s has no build of it (%w)", version, st.URL(""), err),
			fmt.Sprintf("build and publish the release first (`pipeline build` on tag %s%s with this artifacts.url), or name a published version in integration.production.version, or set integration.previous and provide its repository yourself", prefix, version))
	}
	if err != nil {
		return in, errs.New(errs.Infra, fmt.Errorf("integration: production build %s: %w", version, err), "check that the artifact store is reachable")
	}
	cfg.Previous, in.Previous, in.Production = version, version, prod.URL
	dir := cfg.Production.DirOrDefault()
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(env.Repo, dir)
	}
	in.ProdDir = dir
	if env.DryRun {
		env.Log.Infof("production version %s: build %s; dry run: would download its repositories into %s", version, prod.URL, dir)
		return in, nil
	}
	fetched, kept, err := handoff.Download(ctx, st, prod.Manifest, prod.Prefix, []string{"apt", "yum"}, dir)
	if err != nil {
		return in, errs.New(errs.Infra, fmt.Errorf("integration: production build %s: %w", version, err), "check the artifact store; run again to retry")
	}
	env.Log.Infof("production version %s: repositories of %s in %s (%d file(s) downloaded and verified by sha256, %d already there)", version, prod.URL, dir, fetched, kept)
	return in, nil
}

// fetchBuild: the build's output dir on this runner (downloaded from the
// store when missing), as Env.EnsureBuild.
func fetchBuild(ctx context.Context, env *stages.Env, build *handoff.Build, in *Inputs) error {
	dir, fetched, err := env.EnsureBuild(ctx, build)
	in.BuildDir, in.Fetched = dir, fetched
	if err != nil {
		return fmt.Errorf("integration: %w", err)
	}
	return nil
}

// needsProduction: a selected target runs the upgrade scenario, and the
// configuration names a production build or leaves previous empty.
func needsProduction(cfg *config.Integration, targets []config.IntegrationTarget) bool {
	if !cfg.Production.Set() && cfg.Previous != "" {
		return false
	}
	for _, t := range targets {
		for _, s := range cfg.ScenariosOf(t) {
			if s == "upgrade" {
				return true
			}
		}
	}
	return false
}

func tagPrefix(env *stages.Env, build *handoff.Build) string {
	switch {
	case build != nil && build.TagPrefix != "":
		return build.TagPrefix
	case env.Config.Build.Metapackage.TagPrefix != "":
		return env.Config.Build.Metapackage.TagPrefix
	}
	return "v"
}

// lastRelease is the newest release tag reachable from HEAD older than the
// version under test, deepening a shallow clone until one is found.
func lastRelease(ctx context.Context, repo, prefix, underTest string) (string, error) {
	g := gitops.Open(repo)
	var version string
	find := func(ctx context.Context) (bool, error) {
		out, err := g.Run(ctx, "tag", "--merged", "HEAD", "--list", prefix+"*")
		if err != nil {
			return false, err
		}
		v, _, ok := handoff.LastRelease(strings.Split(out, "\n"), prefix, underTest)
		version = v
		return ok, nil
	}
	err := g.DeepenUntil(ctx, "origin", []string{"+refs/tags/*:refs/tags/*"}, find)
	if version != "" {
		return version, nil
	}
	detail := ""
	if err != nil && !errors.Is(err, gitops.ErrNotInHistory) {
		detail = " (" + err.Error() + ")"
	}
	return "", errs.New(errs.Usage, fmt.Errorf("integration: the UPGRADE scenario needs the production version, and integration.previous is empty: no release tag %s<semver> older than %s is reachable from HEAD%s", prefix, underTest, detail),
		"tag the release in production, or set integration.production.version (a build in the artifact store) or integration.previous, or run only the fresh scenario")
}

// handOnVerdict records the run's verdict on the commit: in the report dir
// and in the store at verdicts/<sha>/<name>.json, where `pipeline serve`
// answers status checks from (stages.RecordVerdict).
func handOnVerdict(ctx context.Context, env *stages.Env, res *stages.Result, t Counts, in *Inputs, shard string) {
	v := &handoff.Verdict{Stage: "integration", Outcome: string(res.Outcome), Summary: res.Summary,
		Passed: t.Passed, Failed: t.Failed + t.Errors, URL: env.CI.JobURL, Time: time.Now().UTC(), Shard: shard}
	if in != nil {
		v.Version, v.Previous = in.Version, in.Previous
	}
	res.Dotenv = v.Dotenv()
	stages.RecordVerdict(ctx, env, v)
}

// builtinProvisioning is the built-in APT provisioning of this run
// (BuiltinAPT) from the build's hand-off and the build configuration:
// the build's APT repository, the production build's when a target runs
// the UPGRADE scenario. A build without an APT repository, or an UPGRADE
// without a production build to start from, is exit 2 saying to write the
// provisioning.
func builtinProvisioning(env *stages.Env, cfg *config.Integration, in *Inputs, targets []config.IntegrationTarget) (Provisioning, error) {
	bc := env.Config.Build
	dir := in.BuildDir
	if dir == "" {
		dir = bc.Output
		if dir == "" {
			dir = filepath.Join(".pipeline", "build")
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(env.Repo, dir)
		}
	}
	newRepo := filepath.Join(dir, "apt")
	missing := in.noAPT
	if !missing && !env.DryRun {
		if _, err := os.Stat(newRepo); err != nil {
			missing = true
		}
	}
	if missing {
		return Provisioning{}, errs.New(errs.Usage,
			fmt.Errorf("integration: no provisioning is configured (copy, setup, base, provision) and the build has no APT repository (%s): the built-in provisioning installs from APT only", newRepo),
			"write integration.provision (with copy:, setup: and base: as needed) to install your packages, as docs/integration.md shows; or build .deb packages")
	}
	pin := BuiltinAPTInput{Metapackage: firstOf(in.Metapackage, bc.Metapackage.Name, env.Config.Project.Name),
		Suite: firstOf(in.APTSuite, bc.APT.Suite, "stable"), Component: firstOf(bc.APT.Component, "main"), NewRepo: newRepo}
	upgrade := false
	for _, t := range targets {
		for _, s := range cfg.ScenariosOf(t) {
			upgrade = upgrade || s == Upgrade
		}
	}
	if upgrade {
		if in.ProdDir == "" {
			return Provisioning{}, errs.New(errs.Usage,
				fmt.Errorf("integration: the UPGRADE scenario starts from previous %s, but with no provisioning configured it needs the production build's APT repository, and previous: names no build", orNone(cfg.Previous)),
				"leave previous: out (production: from: last-release takes the last release's build from the artifact store), or write copy/setup/base/provision yourself")
		}
		pin.ProdRepo = filepath.Join(in.ProdDir, "apt")
	}
	return BuiltinAPT(pin), nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
