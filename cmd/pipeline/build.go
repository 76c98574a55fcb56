package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/spf13/cobra"
)

func newBuildCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "build",
		Short:   "Build the packages, lock them, build the pinned meta-package, publish repositories",
		Example: "  pipeline build\n  pipeline build --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{stages.NotImplemented("build")}, nil)
		},
	}
}
