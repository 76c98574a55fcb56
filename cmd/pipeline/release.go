package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/spf13/cobra"
)

func newReleaseCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "release",
		Short:   "Cut the release: version, changelog, notes, milestone, MR, tag",
		Example: "  pipeline release\n  pipeline release --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{stages.NotImplemented("release")}, nil)
		},
	}
}
