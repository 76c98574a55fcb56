package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/build"
	"github.com/spf13/cobra"
)

func newBuildCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "build",
		Short: "Build the packages, lock them, build the pinned meta-package, publish repositories",
		Long: `Build runs each component of build.components (in dependency order,
independent ones in parallel), reads every .deb/.rpm they produce into
dist.lock (exact versions and sha256 sums; two versions of one package or a
dependency nothing satisfies fail the build), builds the meta-package that
pins every package at exactly its locked version (byte-identical for the same
commit), writes APT and YUM repositories, and publishes it all, verified, to
the artifact store (artifacts.url) with a manifest.

Later CI jobs get PIPELINE_METAPACKAGE (name=version), PIPELINE_REPO_URL,
PIPELINE_APT_SOURCE and PIPELINE_YUM_URL in the dotenv report.`,
		Example: "  pipeline build\n  pipeline build --dry-run\n  pipeline build --json | jq .results[0].data.lock",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{build.New()}, nil)
		},
	}
}
