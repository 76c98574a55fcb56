package main

import (
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/spf13/cobra"
)

func newInitCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "init",
		Short:   "Write a starter pipeline.yaml, .gitlab-ci.yml and Jenkinsfile",
		Example: "  pipeline init\n  pipeline init --force",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errs.Usagef("init is not implemented in this version of pipeline")
		},
	}
}
