package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/spf13/cobra"
)

func newIntegrationCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "integration",
		Short:   "Run suites on fresh and upgraded staging targets and diff their state",
		Example: "  pipeline integration\n  pipeline integration --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{stages.NotImplemented("integration")}, nil)
		},
	}
}
