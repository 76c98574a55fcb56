package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd(a *app) *cobra.Command {
	// List the commands in pipeline order (run, build, template, ...), not
	// alphabetically.
	cobra.EnableCommandSorting = false
	root := &cobra.Command{
		Use:   "pipeline",
		Short: "Build, test, promote and release an OS distribution from CI",
		Long: `pipeline turns an appliance / OS-distribution team's release flow into code:

  build ──► template ──► integration ──► promote ──► release

Call it from a GitLab CI job, a Jenkins stage, or by hand. It reports where
the team already looks: collapsible log sections, JUnit and dotenv reports,
commit statuses and merge-request comments.

Configuration is pipeline.yaml, found upward from --repo (see
docs/config.md); without one, the defaults are used. Secrets never live in
the file: it names the environment variables that hold them, and their
values are masked in every output.

Output: results on stdout (one JSON document with --json), logs on stderr
(GitLab collapsible sections under GitLab CI), reports in --report-dir
(JUnit XML, pipeline.json, pipeline.env for artifacts:reports:dotenv).

Exit codes: 0 success (including "nothing to release"), 1 the stage found a
failure, 2 usage or configuration error, 3 infrastructure error.`,
		Example: `  pipeline init                  # start: pipeline.yaml, .gitlab-ci.yml, Jenkinsfile
  pipeline run                   # every configured stage, in order
  pipeline release --dry-run     # show the next release, change nothing
  pipeline promote --json        # promote staging, print the result as JSON
  pipeline -C ../appliance run build --report-dir out`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return a.before(cmd)
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&a.g.configPath, "config", "", "pipeline.yaml to use (default: found upward from --repo)")
	f.StringVarP(&a.g.repo, "repo", "C", ".", "repository to work on")
	f.BoolVar(&a.g.dryRun, "dry-run", false, "change nothing anywhere (no push, no API write, no upload); say what would be done")
	f.BoolVar(&a.g.json, "json", false, "print one JSON document with the result on stdout (logs stay on stderr)")
	f.StringVar(&a.g.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&a.g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&a.g.reportDir, "report-dir", "", "where JUnit, JSON and dotenv reports go (default: REPO/.pipeline/reports)")
	mustFlag(root.RegisterFlagCompletionFunc("log-format", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp)))
	mustFlag(root.RegisterFlagCompletionFunc("log-level", cobra.FixedCompletions([]string{"debug", "info", "warn", "error"}, cobra.ShellCompDirectiveNoFileComp)))
	mustFlag(root.MarkPersistentFlagDirname("repo"))
	mustFlag(root.MarkPersistentFlagDirname("report-dir"))
	mustFlag(root.MarkPersistentFlagFilename("config", "yaml", "yml"))

	root.AddCommand(
		newRunCmd(a),
		newBuildCmd(a),
		newTemplateCmd(a),
		newIntegrationCmd(a),
		newPromoteCmd(a),
		newReleaseCmd(a),
		newStatusCmd(a),
		newServeCmd(a),
		newInitCmd(a),
		newVersionCmd(a),
	)
	stageCommands := map[string]bool{"run": true}
	for _, s := range allStages() {
		stageCommands[s.Name()] = true
	}
	for _, c := range root.Commands() {
		if c.Long == "" {
			c.Long = defaultLong[c.Name()]
		}
		if stageCommands[c.Name()] {
			c.Annotations = map[string]string{stageCommand: "true"}
		}
	}
	return root
}

// stageCommand marks the commands that run stages: their --json document
// always has "results", [] when no stage ran.
const stageCommand = "pipeline/stage-command"

// defaultLong is the help text of the commands whose own file does not set
// one (each stage's file may set its own, closer to its flags).
var defaultLong = map[string]string{
	"build": `Build the distribution's packages and a meta-package pinned to their exact
versions, then publish the APT/YUM repositories and upload them to the
artifact store.

Reads the "build:" section of pipeline.yaml. The lock of exact versions and
sha256 sums makes a second build of the same commit byte-identical
(SOURCE_DATE_EPOCH is the commit time). Writes a JUnit report and dotenv
variables for later jobs in --report-dir. Exit 1 when a package fails to
build, 2 for bad configuration, 3 when the artifact store is unreachable.`,

	"template": `Rebuild the developers' VM template (disk image, qcow2/VMDK, Vagrant box and
catalog) when its inputs changed, and upload it.

Reads the "template:" section of pipeline.yaml. The template is keyed by
the content of its inputs: unchanged inputs cost nothing (outcome
"nothing"), changed ones always give a fresh image.`,

	"integration": `Run the test suites on a FRESH target and on an UPGRADED one (production
state plus the new packages), then diff the state of the two.

Reads the "integration:" section of pipeline.yaml. Writes one JUnit report
(classname suite.target.phase) that GitLab and Jenkins show per test. Exit 1
when a suite fails or the states differ, 3 when a runner is unreachable.`,

	"promote": `Test the commits on the staging branch and cherry-pick those that pass onto
master with provenance (cherry-pick -x). When a batch fails, find the
culprit commit(s) in few test runs and say so on the forge.

Reads the "promote:" section of pipeline.yaml. Run it one at a time (GitLab
resource_group, Jenkins lock). Exit 1 when a culprit was found.`,

	"release": `Cut the release: bump the version (semver) from the Conventional Commits
since the last tag, write the changelog and the release notes from merged
merge requests and closed issues, close the milestone and open the next,
open the release merge request, tag and create the forge release.

Reads the "release:" section of pipeline.yaml; works on a plain git repo
with forge "none" and no pipeline.yaml at all. Safe to re-run: what is
already done is left as it is. Nothing to release is not a failure (exit 0).
Writes PIPELINE_VERSION and friends to the dotenv report.`,

	"status": `Post a commit status, or answer a GitLab external status check on a merge
request, for the commit under test (from the CI context or --sha).

Needs a forge token with api scope (forge.token_env, PIPELINE_TOKEN,
GITLAB_TOKEN or GITHUB_TOKEN); GitLab's CI_JOB_TOKEN cannot post statuses.`,
}

// mustFlag panics on an error from cobra's flag annotations, which only
// fail for a flag name this file misspelt: every test run catches it.
func mustFlag(err error) {
	if err != nil {
		panic(err)
	}
}
