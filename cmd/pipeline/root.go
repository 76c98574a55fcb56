package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "pipeline",
		Short: "Build, test, promote and release an OS distribution from CI",
		Long: `pipeline turns an appliance / OS-distribution team's release flow into code:

  build ──► template ──► integration ──► promote ──► release

Call it from a GitLab CI job, a Jenkins stage, or by hand. It reports where
the team already looks: collapsible log sections, JUnit and dotenv reports,
commit statuses and merge-request comments.

Exit codes: 0 success (including "nothing to release"), 1 the stage found a
failure, 2 usage or configuration error, 3 infrastructure error.`,
		Example: `  pipeline run                   # every configured stage, in order
  pipeline release --dry-run     # show the next release, change nothing
  pipeline promote --json        # promote staging, print the result as JSON`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&a.g.configPath, "config", "", "pipeline.yaml to use (default: found upward from --repo)")
	f.StringVarP(&a.g.repo, "repo", "C", ".", "repository to work on")
	f.BoolVar(&a.g.dryRun, "dry-run", false, "change nothing anywhere (no push, no API write, no upload); say what would be done")
	f.BoolVar(&a.g.json, "json", false, "print one JSON document with the result on stdout (logs stay on stderr)")
	f.StringVar(&a.g.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&a.g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&a.g.reportDir, "report-dir", "", "where JUnit, JSON and dotenv reports go (default: REPO/.pipeline/reports)")

	root.AddCommand(
		newRunCmd(a),
		newBuildCmd(a),
		newTemplateCmd(a),
		newIntegrationCmd(a),
		newPromoteCmd(a),
		newReleaseCmd(a),
		newStatusCmd(a),
		newInitCmd(a),
		newVersionCmd(a),
	)
	return root
}
