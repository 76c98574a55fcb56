package main

import (
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/spf13/cobra"
)

func newStatusCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "status",
		Short:   "Post a commit status / MR status-check result",
		Example: "  pipeline status --name bvt --state success --description 'all suites passed'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errs.Usagef("status is not implemented in this version of pipeline")
		},
	}
}
