package main

import (
	"github.com/spf13/cobra"
)

func newRunCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "run [STAGE...]",
		Short: "Run the configured stages in order",
		Long: `Run the stages listed under "stages:" in pipeline.yaml, in the pipeline's
order (build, template, integration, promote, release). Name stages to run
only those. The run stops at the first stage that fails.`,
		Example: `  pipeline run
  pipeline run build template
  pipeline run --dry-run`,
		ValidArgs: []string{"build", "template", "integration", "promote", "release"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), allStages(), args)
		},
	}
}
