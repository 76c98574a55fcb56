package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/scaffold"
	"github.com/spf13/cobra"
)

func newInitCmd(a *app) *cobra.Command {
	var force bool
	d := scaffold.Data{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a starter pipeline.yaml, .gitlab-ci.yml and Jenkinsfile",
		Long: `Write the three files a repository needs to run pipeline from CI, in --repo:

  pipeline.yaml    project, forge, artifact store and the stages to run
  .gitlab-ci.yml   a job per stage calling pipeline; JUnit and dotenv reports
                   wired; integration split with parallel: and --shard;
                   promote serialised with resource_group; release on the
                   weekly schedule or by hand
  Jenkinsfile      the same as a declarative pipeline: junit and
                   archiveArtifacts, promote inside lock('promote'), release
                   on a cron trigger or, by hand, after a dry run and an input

If any of the three exists, nothing at all is written unless --force is
given. --dry-run prints the files instead of writing them.`,
		Example: `  pipeline init
  pipeline init --dry-run
  pipeline -C ~/src/appliance init --project web-appliance --forge gitlab --shards 4
  pipeline init --force      # overwrite the three files`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.init(d, force, cmd.Flags().Changed("project"))
		},
	}
	f := cmd.Flags()
	f.BoolVar(&force, "force", false, "overwrite existing files")
	f.StringVar(&d.Project, "project", "", "the distribution's name (default: the repository folder's name)")
	f.StringVar(&d.Forge, "forge", "", "gitlab, github or none (default: taken from the CI)")
	f.StringVar(&d.Staging, "staging", "staging", "the branch developers commit to")
	f.StringVar(&d.Master, "master", "master", "the branch promote feeds and release tags")
	f.IntVar(&d.Shards, "shards", 2, "parallel integration jobs")
	mustFlag(cmd.RegisterFlagCompletionFunc("forge", cobra.FixedCompletions([]string{"gitlab", "github", "none"}, cobra.ShellCompDirectiveNoFileComp)))
	return cmd
}

// initFile is one file in init's --json output.
type initFile struct {
	Path   string `json:"path"`
	Action string `json:"action"` // create, overwrite, would create, would overwrite
	Bytes  int    `json:"bytes"`
}

func (a *app) init(d scaffold.Data, force, projectGiven bool) error {
	repo, err := filepath.Abs(a.g.repo)
	if err != nil {
		return errs.Usagef("--repo %s: %w", a.g.repo, err)
	}
	if st, err := os.Stat(repo); err != nil || !st.IsDir() {
		return errs.New(errs.Usage, fmt.Errorf("--repo %s: not a directory", a.g.repo), "give the path of the repository to set up")
	}
	def := scaffold.Defaults(repo)
	d.Cron = def.Cron
	if !projectGiven {
		d.Project = def.Project
	}
	files, err := scaffold.Render(d)
	if err != nil {
		return errs.New(errs.Usage, err, "")
	}
	existing := map[string]bool{}
	for _, p := range scaffold.Existing(repo, files) {
		existing[p] = true
	}

	var report []initFile
	for _, f := range files {
		action := "create"
		if existing[f.Path] {
			action = "overwrite"
		}
		if a.g.dryRun {
			action = "would " + action
		}
		report = append(report, initFile{Path: f.Path, Action: action, Bytes: len(f.Content)})
	}

	if !a.g.dryRun {
		if err := scaffold.Write(repo, files, force); err != nil {
			if errors.Is(err, scaffold.ErrExists) {
				return errs.New(errs.Usage, err, "nothing was written; use --force to overwrite, or --dry-run to see the files")
			}
			return errs.New(errs.Infra, err, "")
		}
	} else if len(existing) > 0 && !force {
		// Say now what the real run would say.
		return errs.New(errs.Usage, fmt.Errorf("%s: %d of the files already exist", repo, len(existing)),
			"the real run would write nothing; add --force to overwrite")
	}

	if a.emitData(map[string]any{"repo": repo, "files": report}) {
		return nil
	}
	for i, f := range files {
		if a.g.dryRun {
			fmt.Fprintf(a.stdout, "── %s (%s, %d bytes)\n%s\n", f.Path, report[i].Action, len(f.Content), f.Content)
			continue
		}
		done := map[string]string{"create": "created", "overwrite": "replaced"}[report[i].Action]
		fmt.Fprintf(a.stdout, "%-9s %s\n", done, filepath.Join(repo, f.Path))
	}
	if !a.g.dryRun {
		fmt.Fprintln(a.stdout, "next: edit pipeline.yaml, then `pipeline run --dry-run`")
	}
	return nil
}
