package main

import (
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/promote"
	"github.com/spf13/cobra"
)

func newPromoteCmd(a *app) *cobra.Command {
	stage := promote.New()
	cmd := &cobra.Command{
		Use:   "promote",
		Short: "Test staging, cherry-pick what passes onto master, name the culprits",
		Long: `promote tests the commits of promote.from (staging) that promote.to (master)
does not hold yet, with the command promote.test run in a clean worktree of
each tree it judges (exit 0 good, 125 cannot test, 1-127 bad). What passes is
cherry-picked onto master with -x and a Promoted-from trailer and pushed in one
guarded atomic push. When a batch fails, the first culprit is found by
bisecting prefixes of the batch, confirmed, reported on the forge, and the
commits after it are tested again without it.

Exit codes: 0 promoted or nothing to promote; 1 a culprit, blocked commit or
broken master was found; 2 configuration error; 3 infrastructure error (the
test timed out or was killed, the remote or forge was unreachable).`,
		Example: "  pipeline promote\n  pipeline promote --list         # only list the candidates: test nothing\n  pipeline promote --dry-run      # test, but push and post nothing\n  pipeline promote --json         # candidates, probes, rounds, culprits as JSON",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{stage}, nil)
		},
	}
	cmd.Flags().BoolVar(&stage.ListOnly, "list", false, "only list the candidates (staging commits not yet on master): test, pick and push nothing")
	return cmd
}
