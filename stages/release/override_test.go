package release

import (
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/gitops/forgetest"
)

// An MR's override block, read through each fake forge by the real client
// library, decides the bump and the notes; the plan says so.
func TestOverrideBlockFromTheForge(t *testing.T) {
	t.Parallel()
	desc := "Typed the squash message wrong.\n\nBEGIN_COMMIT_OVERRIDE\nfeat(net): bridge firewall\n\nBREAKING CHANGE: br0 is gone\nfix: count from one\nEND_COMMIT_OVERRIDE\n"
	retry := gitops.Retry{Attempts: 2, Min: time.Millisecond, Max: 5 * time.Millisecond, MaxWait: 10 * time.Millisecond, Timeout: 2 * time.Second}
	at := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	for _, forge := range []string{"gitlab", "github"} {
		t.Run(forge, func(t *testing.T) {
			t.Parallel()
			r := newRepo(t)
			r.commit("feat: base")
			r.tag("v1.4.0")
			sq := r.commit("Update firewall (#1)")
			r.commit("docs: typo")
			r.push()
			srv := forgetest.New(t, token)
			var f gitops.Forge
			var err error
			ref := "!1"
			switch forge {
			case "gitlab":
				gl := srv.GitLab()
				gl.AddProject(42, "appliance/os")
				gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "Update firewall", Description: desc, SourceBranch: "fw",
					TargetBranch: "main", State: "merged", MergedAt: &at, SquashCommitSHA: &sq})
				f, err = gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: token, Retry: retry})
			case "github":
				ref = "#1"
				gh := srv.GitHub()
				gh.AddRepo("appliance/os")
				body := desc
				gh.AddPull("appliance/os", forgetest.GHPull{Title: "Update firewall", Body: &body, State: "closed", MergedAt: &at, ClosedAt: &at,
					MergeCommitSHA: &sq, Head: forgetest.GHBranchRef{Ref: "fw"}, Base: forgetest.GHBranchRef{Ref: "main"}})
				f, err = gitops.NewGitHub(gitops.Options{BaseURL: srv.GitHubURL(), Project: "appliance/os", Token: token, Retry: retry})
			}
			if err != nil {
				t.Fatal(err)
			}
			env := r.env(f, direct)
			env.DryRun = true
			_, d := r.mustRelease(env, Options{})
			if d.Version != "2.0.0" || !strings.Contains(d.Reason, "major from the override block of MR "+ref+" (breaking: bridge firewall)") {
				t.Errorf("version %s reason %q", d.Version, d.Reason)
			}
			if len(d.Overrides) != 1 || d.Overrides[0] != 1 {
				t.Errorf("overrides %v", d.Overrides)
			}
			for _, want := range []string{"### Breaking changes", "**net:** bridge firewall (", "  br0 is gone", "### Fixes", "- count from one ("} {
				if !strings.Contains(d.Notes, want) {
					t.Errorf("notes lack %q:\n%s", want, d.Notes)
				}
			}
			if strings.Contains(d.Notes, "Update firewall") {
				t.Errorf("notes still list the merged message:\n%s", d.Notes)
			}
			if srv.Writes() != 0 {
				t.Errorf("--dry-run wrote %d time(s) to the forge", srv.Writes())
			}
		})
	}
}
