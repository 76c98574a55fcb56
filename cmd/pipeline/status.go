package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/spf13/cobra"
)

// statusResult is the --json data of `pipeline status`.
type statusResult struct {
	Forge       string `json:"forge"`
	SHA         string `json:"sha"`
	Ref         string `json:"ref,omitempty"`
	Name        string `json:"name"`
	State       string `json:"state"`
	Description string `json:"description,omitempty"`
	TargetURL   string `json:"target_url,omitempty"`
	// Posted is true when the forge accepted the status; false under
	// --dry-run or with no forge (Skipped says why).
	Posted  bool   `json:"posted"`
	Skipped string `json:"skipped,omitempty"`
}

func newStatusCmd(a *app) *cobra.Command {
	var (
		st    gitops.Status
		check externalCheck
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Post a commit status / MR status-check result",
		Long: `Post a commit status on the forge: GitLab's statuses/:sha (shown on the
pipeline and the MR), GitHub's commit statuses (shown as a check on the PR).

The commit is --sha, else the merge request's head commit (GitLab's
CI_MERGE_REQUEST_SOURCE_BRANCH_SHA, GitHub's pull_request.head.sha), else
the CI commit (CI_COMMIT_SHA, GITHUB_SHA, GIT_COMMIT), else HEAD of --repo. The link is --target-url,
else the CI job's URL. States: pending, running, success, failed, canceled
(GitHub has no "running": it shows pending; "failed" is "failure").

With the "none" forge nothing is posted and the command says so (exit 0).
Under --dry-run nothing is posted either: it prints what it would post.

With --external-check NAME it answers the merge request's GitLab external
status check NAME instead (passed, failed or pending): on the MR of the CI
job (CI_MERGE_REQUEST_IID) or --mr, at its head commit. The check's id is
serve.checks[].id, else looked up by name in the project's status checks.
Without --state the answer is the verdict the stage of that name recorded
for the commit in the artifact store (pending when there is none yet).`,
		Example: `  pipeline status --name bvt --state running
  pipeline status --name bvt --state success --description 'all suites passed'
  pipeline status --name upgrade --state failed --sha 1a2b3c4 --target-url https://ci.example.com/job/42
  pipeline status --name bvt --state success --dry-run --json
  pipeline status --external-check integration          # from the recorded verdict
  pipeline status --external-check title --state passed --mr 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if check.name != "" {
				return answerExternalCheck(cmd.Context(), a, check, st.State, st.SHA)
			}
			if st.Name == "" {
				return errs.New(errs.Usage, fmt.Errorf("status: --name is required"), "name the check, e.g. --name bvt")
			}
			if !slices.Contains(gitops.StatusStates, st.State) {
				return errs.New(errs.Usage, fmt.Errorf("status: --state %q", st.State), "use one of "+strings.Join(gitops.StatusStates, ", "))
			}
			env, err := a.setup(cmd.Context())
			if err != nil {
				return err
			}
			if st.SHA == "" {
				st.SHA = gitops.StatusSHA(env.CI)
			}
			if st.SHA == "" {
				// By hand: the checked-out commit, when --repo is a git repository.
				st.SHA, _ = gitops.Open(env.Repo).Head(cmd.Context())
			}
			if st.SHA == "" {
				return errs.New(errs.Usage, fmt.Errorf("status: no commit known: not in CI and %s is not a git repository", env.Repo),
					"pass --sha COMMIT, or run it in the repository (--repo DIR)")
			}
			if st.Ref == "" {
				st.Ref = statusFirstSet(env.CI.Branch, env.CI.Tag)
			}
			if st.TargetURL == "" {
				st.TargetURL = env.CI.JobURL
			}
			res := statusResult{Forge: env.Forge.Kind(), SHA: st.SHA, Ref: st.Ref, Name: st.Name, State: st.State,
				Description: st.Description, TargetURL: st.TargetURL}
			switch {
			case !gitops.Can(env.Forge).Writes:
				res.Skipped = "no forge configured (forge.type none, and not in GitLab CI or GitHub Actions)"
				env.Log.Warnf("status %s=%s not posted: %s", st.Name, st.State, res.Skipped)
			case env.DryRun:
				res.Skipped = "dry run"
				env.Log.Infof("dry run: would post status %s=%s on %s to %s", st.Name, st.State, statusShort(st.SHA), env.Forge.Kind())
			default:
				err := env.Forge.SetStatus(cmd.Context(), st)
				switch {
				case errors.Is(err, gitops.ErrStatusKept):
					// The forge refused the move (GitLab: running → pending)
					// and kept its state: not posted, and not a failure.
					res.Skipped = err.Error()
					env.Log.Warnf("status %s=%s not posted: %v", st.Name, st.State, err)
				case err != nil:
					return err
				default:
					res.Posted = true
					env.Log.Infof("posted status %s=%s on %s", st.Name, st.State, statusShort(st.SHA))
				}
			}
			if a.emitData(res) {
				return nil
			}
			switch {
			case res.Posted:
				fmt.Fprintf(a.stdout, "status %s=%s posted on %s (%s)\n", res.Name, res.State, statusShort(res.SHA), res.Forge)
			default:
				fmt.Fprintf(a.stdout, "status %s=%s on %s not posted: %s\n", res.Name, res.State, statusShort(res.SHA), res.Skipped)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&st.Name, "name", "", "name of the status (GitLab name, GitHub context), e.g. bvt (required)")
	f.StringVar(&st.State, "state", "", "pending, running, success, failed or canceled (required)")
	f.StringVar(&st.Description, "description", "", "one line shown next to the status")
	f.StringVar(&st.TargetURL, "target-url", "", "link of the status (default: the CI job)")
	f.StringVar(&st.SHA, "sha", "", "commit to post on (default: the MR head or CI commit, else HEAD)")
	f.StringVar(&st.Ref, "ref", "", "branch or tag of the commit (GitLab; default: the CI branch)")
	f.StringVar(&check.name, "external-check", "", "answer this GitLab external status check of the MR instead (title, integration, promote or the check's name in GitLab)")
	f.IntVar(&check.mr, "mr", 0, "with --external-check: the MR's IID (default: CI_MERGE_REQUEST_IID)")
	return cmd
}

func statusFirstSet(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func statusShort(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
