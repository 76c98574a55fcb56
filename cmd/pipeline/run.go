package main

import (
	"github.com/spf13/cobra"
)

func newRunCmd(a *app) *cobra.Command {
	var names []string
	for _, s := range allStages() {
		names = append(names, s.Name())
	}
	return &cobra.Command{
		Use:   "run [STAGE...]",
		Short: "Run the configured stages in order",
		Long: `Run the stages listed under "stages:" in pipeline.yaml, in the pipeline's
order (build, template, integration, promote, release), whatever order they
are listed or named in. Name stages to run only those.

The run stops at the first stage that fails; every stage that ran is in the
output, the JSON summary (--report-dir/pipeline.json) and the exit code:
1 when a stage found a failure, 2 for bad configuration, 3 when something
it depends on was unreachable. An unknown stage name is a usage error (2).`,
		Example: `  pipeline run                         # every configured stage
  pipeline run build template          # only these two, in pipeline order
  pipeline run --dry-run --json        # what would happen, as one JSON document`,
		ValidArgs: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runConfigured(cmd.Context(), allStages(), args)
		},
	}
}
