package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/spf13/cobra"
)

func newTemplateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "template",
		Short:   "Rebuild the developers' VM template when its inputs changed",
		Example: "  pipeline template\n  pipeline template --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{stages.NotImplemented("template")}, nil)
		},
	}
}
