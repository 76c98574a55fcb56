package forgetest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/pipeline-ci/pipeline/gitops"
	"github.com/pipeline-ci/pipeline/gitops/forgetest"
)

// A stage test: seed a GitLab project, run the code under test against the
// real client through gitops, inject a lost answer, read the state back.
func Example() {
	srv := forgetest.New(nil, "glpat-test") // in a test: forgetest.New(t, ...)
	defer srv.Close()
	gl := srv.GitLab()
	gl.AddProject(42, "appliance/os")
	merged := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	gl.AddMergeRequest("42", forgetest.GLMergeRequest{Title: "fix boot", SourceBranch: "fix", TargetBranch: "main", State: "merged", MergedAt: &merged})

	forge, _ := gitops.NewGitLab(gitops.Options{BaseURL: srv.GitLabURL(), Project: "42", Token: "glpat-test",
		Retry: gitops.Retry{Min: time.Millisecond, Max: 10 * time.Millisecond}})
	ctx := context.Background()

	// The server creates the milestone but the answer is lost: the retry
	// finds it instead of creating a second one.
	srv.Inject(forgetest.Fault{Method: "POST", Path: "/api/v4/projects/*/milestones", Kind: forgetest.DropAfter})
	ms, err := forge.CreateMilestone(ctx, gitops.MilestoneInput{Title: "2026.48"})
	fmt.Println(ms.Title, err, len(gl.Milestones("42")))

	mrs, _ := forge.MergedMergeRequests(ctx, "main", time.Time{})
	fmt.Println(len(mrs), mrs[0].Title)
	// Output:
	// 2026.48 <nil> 1
	// 1 fix boot
}
