package main

import (
	"fmt"
	"os"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/stages"
	"github.com/pipeline-ci/pipeline/stages/release"
	"github.com/spf13/cobra"
)

func newReleaseCmd(a *app) *cobra.Command {
	var opts release.Options
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Cut the release: version, changelog, notes, milestone, MR, tag",
		Long: `Release the current branch: the next semantic version from the Conventional
Commits, MR titles and labels since the last release tag; notes grouped by
kind; a CHANGELOG.md entry and version files; then the release MR (mode mr)
or the tag (mode direct), the forge release, and the milestone rotation.

Nothing releasable since the last tag is not a failure: it says so and
exits 0. A run that stopped half way finishes the job when run again.`,
		Example: `  pipeline release --dry-run            # show the plan, change nothing
  pipeline release                      # release what is there
  pipeline release --pre rc             # 1.4.0-rc.1, then rc.2, ...
  pipeline release --bump minor         # override the computed bump
  pipeline release --version 2.0.0 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runStages(cmd.Context(), []stages.Stage{release.New(opts)}, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Bump, "bump", "", "force the bump: major, minor or patch (default: from the changes)")
	f.StringVar(&opts.Version, "version", "", "release exactly this version (X.Y.Z), above the last release")
	f.StringVar(&opts.Pre, "pre", "", "make a pre-release with this identifier: --pre rc gives X.Y.Z-rc.1, rc.2, ...")
	f.StringVar(&opts.Branch, "branch", "", "the branch released (default: the CI branch, else the checked-out one)")
	cmd.AddCommand(newReleaseChangelogCmd(a))
	return cmd
}

func newReleaseChangelogCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "changelog",
		Short: "Regenerate the whole changelog from every release tag",
		Long: `Print a complete CHANGELOG.md rebuilt from the history: one entry per
release tag, newest first, with the same grouping and templates as
'pipeline release'. Nothing is committed.`,
		Example: "  pipeline release changelog > CHANGELOG.md\n  pipeline release changelog -o CHANGELOG.md",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := a.setup(cmd.Context())
			if err != nil {
				return err
			}
			text, err := release.FullChangelog(cmd.Context(), env)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				// Under --json the text goes into the document's "output".
				_, err := fmt.Fprint(a.stdout, text)
				return err
			}
			if env.DryRun {
				env.Log.Infof("would write %s (%d bytes)", out, len(text))
			} else if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
				return errs.Infraf("write %s: %w", out, err)
			}
			a.emitData(map[string]any{"output": out, "bytes": len(text), "written": !env.DryRun})
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file instead of stdout")
	return cmd
}
