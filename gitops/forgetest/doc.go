// Package forgetest is a fake GitLab and GitHub for tests: an HTTP server on
// 127.0.0.1 that the real client libraries (client-go for GitLab, go-github
// for GitHub) talk to, with the endpoints and payloads of the public REST
// API documentation, state kept in memory, auth headers checked, pagination
// headers set, and faults injected on request.
//
// GitLab is served under Server.GitLabURL() (/api/v4) and GitHub under
// Server.GitHubURL() (/api/v3/, the GitHub Enterprise layout). Start one per
// test with New; it stops when the test ends:
//
//	srv := forgetest.New(t, "glpat-test")            // accepted API tokens
//	srv.GitLab().AddProject(42, "appliance/os")      // id and path both work
//	sha := srv.GitLab().AddCommit("42", "staging", "fix: boot order")
//	srv.GitLab().AddMergeRequest("42", forgetest.GLMergeRequest{
//		Title: "fix boot", SourceBranch: "fix", TargetBranch: "staging",
//		State: "merged", MergedAt: &mergedAt,
//	})
//
//	forge, _ := gitops.NewGitLab(gitops.Options{
//		BaseURL: srv.GitLabURL(), Project: "42", Token: "glpat-test"})
//	// ... run the code under test with forge (or put it in stages.Env) ...
//
//	mrs := srv.GitLab().MergeRequests("42")          // read the state back
//	notes := srv.GitLab().Notes("42", "mr:1")
//
// Under GitLab CI the same server is found from the environment:
// CI_API_V4_URL=srv.GitLabURL(), CI_PROJECT_ID=42, PIPELINE_TOKEN=glpat-test
// (gitops.OpenForge). srv.AddJobToken makes a CI_JOB_TOKEN that, as on
// GitLab, may only use the releases API.
//
// External status checks (GitLab Ultimate): AddExternalStatusCheck adds a
// check service with its URL and shared secret; SendStatusCheckEvent POSTs
// the documented merge-request event to it, signed in X-Gitlab-Signature as
// GitLab does, and PushToMergeRequest moves an MR's head. The answers
// (status_check_responses) are refused with GitLab's codes: 401 without the
// licence (GLProject.Unlicensed), 400 for a missing or bad status, 404 for
// an unknown MR or check id, 409 when sha is not the MR's head.
//
// Faults:
//
//	// every request to create an MR: the server creates it, then the
//	// connection drops before the answer (the client must not create two)
//	srv.Inject(forgetest.Fault{Method: "POST", Path: "/api/v4/projects/*/merge_requests", Kind: forgetest.DropAfter})
//	// every distinct call answered 429 (Retry-After: 1) once
//	srv.Inject(forgetest.Fault{Kind: forgetest.RateLimited, EachRequest: true})
//
// Kinds: RateLimited (429 + Retry-After, RateLimit-Reset, X-RateLimit-Reset),
// SecondaryRateLimited and PrimaryRateLimited (GitHub's 403s: no
// Retry-After; X-RateLimit-Remaining 0 and a reset RetryAfter away),
// ServerError (500, nothing done), ServerErrorAfter (done, then 500), Slow
// (done, answer after Delay), Drop (connection closed, nothing done),
// DropAfter (done, connection closed). Server.Requests (with each answer's
// body) and Server.Count tell what reached the server.
//
// GitLab's refusals are modelled where clients must handle them: commit
// statuses live in pipelines (AddPipeline; a status matching none opens an
// external pipeline, as GitLab does; a pipeline_id the fake was never told
// about is taken as the CI run's own, one that does not match is a 404) and move through GitLab's state
// machine (400 "Cannot transition status" for running → pending and the
// like); cherry-pick answers 400 with error_code "empty" (GLProject.EmptySHA,
// or a commit already on the branch) or "conflict" (ConflictingSHA).
//
// The answers are checked against the forges' API descriptions in
// testdata/openapi (Description, Server.Conformance; the test is
// gitops.TestFakeConformsToTheAPIDescriptions): GitHub's own description,
// a GitLab description written from GitLab's docs (required fields), and
// an excerpt of GitLab's own openapi_v2.yaml (types and status codes of
// the operations it describes); the payloads are checked against examples
// from the API documentation in testdata/ (fidelity_test.go).
package forgetest
