package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/spf13/cobra"
)

func newPromoteCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "promote",
		Short:   "Test staging, cherry-pick what passes onto master, name the culprits",
		Example: "  pipeline promote\n  pipeline promote --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{stages.NotImplemented("promote")}, nil)
		},
	}
}
