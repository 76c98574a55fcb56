package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/integration"
	"github.com/spf13/cobra"
)

func newIntegrationCmd(a *app) *cobra.Command {
	var shard, emit string
	var targets []string
	var baseOnly bool
	cmd := &cobra.Command{
		Use:   "integration",
		Short: "Run suites on fresh and upgraded staging targets and diff their state",
		Long: `Integration runs every suite of integration.suites on each target of
integration.targets in two scenarios: FRESH (a clean base, then the version
under test) and UPGRADE (the production version, then the version under
test). It provisions a second time to prove idempotence, diffs the state of
FRESH and UPGRADE (packages, enabled services, listening ports, users and
groups, sysctl, files), and scans the logs written since provisioning began.

Reports: junit-integration.xml (classname suite.target.phase), integration.json,
integration-comment.md and integration/<target>/ (logs, snapshots, diff) in the
report dir, and the comment on the merge request. Exit 1 when a check fails,
3 when a target cannot be reached.`,
		Example: "  pipeline integration\n  pipeline integration --dry-run\n  pipeline integration --shard 2/4\n" +
			"  pipeline integration --target staging-1\n  pipeline integration --emit-child-pipeline integration-jobs.yml\n" +
			"  pipeline integration --base-only",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := integration.Options{Targets: targets, EmitChildPipeline: emit, BaseOnly: baseOnly}
			if shard != "" {
				i, n, err := integration.ParseShard(shard)
				if err != nil {
					return err
				}
				opts.Shard, opts.Shards = i, n
			}
			return a.runStages(cmd.Context(), []stages.Stage{&integration.Stage{Opts: opts}}, nil)
		},
	}
	cmd.Flags().StringVar(&shard, "shard", "", "run shard `i/n` of the targets (default: CI_NODE_INDEX/CI_NODE_TOTAL of a GitLab parallel: job)")
	cmd.Flags().StringSliceVar(&targets, "target", nil, "run only these targets (repeatable)")
	cmd.Flags().BoolVar(&baseOnly, "base-only", false, "bootstrap (or find in the cache) the base of the chroot/container targets without a rootfs of their own, and run nothing else: pre-warms a runner")
	cmd.Flags().StringVar(&emit, "emit-child-pipeline", "", "write a GitLab child pipeline with one job per target to `FILE` and run nothing")
	return cmd
}
