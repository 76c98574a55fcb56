package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/spf13/cobra"
)

func newBuildCmd(a *app) *cobra.Command {
	var opts build.Options
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the packages, lock them, build the pinned meta-package, publish repositories",
		Long: `Build runs each component of build.components (in dependency order,
independent ones in parallel), reads every .deb/.rpm they produce into
dist.lock (exact versions and sha256 sums; two versions of one package or a
dependency nothing satisfies fail the build), builds the meta-package that
pins every package at exactly its locked version (byte-identical for the same
commit), writes APT and YUM repositories, and publishes it all, verified, to
the artifact store (artifacts.url) with a manifest.

Each component's packages are cached in the artifact store under the key
of its inputs (its files, command, environment and tools): a component
whose inputs did not change is taken from there ("reused") instead of being
rebuilt. A package already published with other bytes under the same name,
version and architecture fails the build. A working tree that differs from
HEAD is refused (exit 2) unless --allow-dirty.

Later CI jobs get PIPELINE_METAPACKAGE (name=version), PIPELINE_REPO_URL,
PIPELINE_APT_SOURCE and PIPELINE_YUM_URL in the dotenv report.`,
		Example: "  pipeline build\n  pipeline build --dry-run\n  pipeline build --rebuild appliance-agent\n  pipeline build --json | jq .results[0].data.lock",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{build.NewWith(opts)}, nil)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&opts.Rebuild, "rebuild", nil, "build these components (`NAME`, repeatable, or all) even when the component cache has their packages")
	f.BoolVar(&opts.AllowDirty, "allow-dirty", false, "publish a working tree that differs from HEAD, as version <commit's version>+dirty.<hash>")
	return cmd
}
