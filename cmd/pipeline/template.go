package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/template"
	"github.com/spf13/cobra"
)

func newTemplateCmd(a *app) *cobra.Command {
	var opts template.Options
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Rebuild the developers' VM template when its inputs changed",
		Long: `Build the developers' VM template (qcow2, VMDK, Vagrant boxes and catalog)
from the template section of pipeline.yaml, boot it once to check it, and
publish it to the artifact store. The template key is a hash of every input;
when the store already has an image for the key, nothing is built.`,
		Example: "  pipeline template\n  pipeline template --dry-run      # print the key, say whether it would build\n  pipeline template --force --no-boot",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{template.New(opts)}, nil)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "rebuild even when the store has an image for the key")
	cmd.Flags().BoolVar(&opts.NoBoot, "no-boot", false, "skip the smoke boot")
	return cmd
}
