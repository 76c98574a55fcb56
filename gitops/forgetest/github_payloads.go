package forgetest

import (
	"encoding/json"
	"strings"
)

// The fields GitHub's REST description requires of its objects that the
// fake derives from others (mostly API URLs): added when an object is
// written as JSON, so that the state types stay small. Checked by
// gitops.TestFakeConformsToTheAPIDescriptions.

// withFields marshals v (a struct without its MarshalJSON) and adds the
// extra fields it does not have.
func withFields(v any, extra map[string]any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, x := range extra {
		if _, ok := m[k]; !ok {
			m[k] = x
		}
	}
	return json.Marshal(m)
}

const ghAPI = "https://api.github.com"

// MarshalJSON writes the user as GitHub's simple-user.
func (u GHUser) MarshalJSON() ([]byte, error) {
	type plain GHUser
	api := ghAPI + "/users/" + u.Login
	html := u.HTMLURL
	if html == "" {
		html = "https://github.com/" + u.Login
	}
	node := u.NodeID
	if node == "" {
		node = "U_" + u.Login
	}
	return withFields(plain(u), map[string]any{
		"url": api, "html_url": html, "node_id": node, "gravatar_id": "", "followers_url": api + "/followers",
		"following_url": api + "/following{/other_user}", "gists_url": api + "/gists{/gist_id}",
		"starred_url": api + "/starred{/owner}{/repo}", "subscriptions_url": api + "/subscriptions",
		"organizations_url": api + "/orgs", "repos_url": api + "/repos", "events_url": api + "/events{/privacy}",
		"received_events_url": api + "/received_events",
	})
}

// MarshalJSON writes the pull request as GitHub's pull-request.
func (p GHPull) MarshalJSON() ([]byte, error) {
	type plain GHPull
	repoAPI, _, _ := strings.Cut(p.URL, "/pulls/")
	issue := strings.Replace(p.URL, "/pulls/", "/issues/", 1)
	href := func(u string) map[string]any { return map[string]any{"href": u} }
	var mergedBy any
	if p.MergedAt != nil {
		mergedBy = ghBot
	}
	return withFields(plain(p), map[string]any{
		"issue_url": issue, "commits_url": p.URL + "/commits", "review_comments_url": p.URL + "/comments",
		"review_comment_url": repoAPI + "/pulls/comments{/number}", "comments_url": issue + "/comments",
		"statuses_url": repoAPI + "/statuses/" + p.Head.SHA, "diff_url": p.HTMLURL + ".diff", "patch_url": p.HTMLURL + ".patch",
		"assignee": nil, "assignees": []any{}, "requested_reviewers": []any{}, "requested_teams": []any{},
		"author_association": "MEMBER", "auto_merge": nil, "active_lock_reason": nil,
		"merged": p.MergedAt != nil, "mergeable": nil, "rebaseable": nil, "mergeable_state": "unknown", "merged_by": mergedBy,
		"comments": 0, "review_comments": 0, "maintainer_can_modify": false, "commits": 1, "additions": 0, "deletions": 0, "changed_files": 0,
		"_links": map[string]any{
			"self": href(p.URL), "html": href(p.HTMLURL), "issue": href(issue), "comments": href(issue + "/comments"),
			"review_comments": href(p.URL + "/comments"), "review_comment": href(repoAPI + "/pulls/comments{/number}"),
			"commits": href(p.URL + "/commits"), "statuses": href(repoAPI + "/statuses/" + p.Head.SHA),
		},
	})
}

// MarshalJSON writes the issue as GitHub's issue.
func (is GHIssue) MarshalJSON() ([]byte, error) {
	type plain GHIssue
	repoAPI, _, _ := strings.Cut(is.URL, "/issues/")
	return withFields(plain(is), map[string]any{
		"repository_url": repoAPI, "labels_url": is.URL + "/labels{/name}", "comments_url": is.URL + "/comments",
		"events_url": is.URL + "/events", "locked": false, "assignee": nil, "assignees": []any{}, "author_association": "MEMBER",
		"active_lock_reason": nil,
	})
}

// MarshalJSON adds the diff and patch links of the issue side of a PR.
func (pr GHIssuePR) MarshalJSON() ([]byte, error) {
	type plain GHIssuePR
	return withFields(plain(pr), map[string]any{"diff_url": pr.HTMLURL + ".diff", "patch_url": pr.HTMLURL + ".patch"})
}

// MarshalJSON adds the milestone's labels link.
func (m GHMilestone) MarshalJSON() ([]byte, error) {
	type plain GHMilestone
	return withFields(plain(m), map[string]any{"labels_url": m.URL + "/labels"})
}

// MarshalJSON writes a commit comment with its (here always empty) place
// in the diff; an issue comment as it is.
func (c GHComment) MarshalJSON() ([]byte, error) {
	type plain GHComment
	extra := map[string]any{}
	if c.CommitID != "" {
		extra = map[string]any{"position": nil, "line": nil, "path": nil}
	}
	return withFields(plain(c), extra)
}

// MarshalJSON adds a label's (empty) description.
func (l GHLabel) MarshalJSON() ([]byte, error) {
	type plain GHLabel
	return withFields(plain(l), map[string]any{"description": ""})
}

// repoJSON is the repository object of a PR's head and base.
func (r *GHRepo) repoJSON() map[string]any {
	owner, name, _ := strings.Cut(r.FullName, "/")
	api := r.APIURL
	m := map[string]any{
		"id": 1, "node_id": "R_1", "name": name, "full_name": r.FullName, "owner": GHUser{Login: owner, ID: 3, Type: "Organization"},
		"private": false, "html_url": r.HTMLURL, "description": nil, "fork": false, "url": api,
		"clone_url": r.HTMLURL + ".git", "git_url": strings.Replace(r.HTMLURL, "https://", "git://", 1) + ".git",
		"ssh_url": "git@github.com:" + r.FullName + ".git", "svn_url": r.HTMLURL, "mirror_url": nil, "homepage": nil,
		"language": nil, "default_branch": "main", "forks": 0, "forks_count": 0, "open_issues": 0, "open_issues_count": 0,
		"stargazers_count": 0, "watchers": 0, "watchers_count": 0, "size": 0, "has_downloads": true, "has_issues": true,
		"has_projects": true, "has_wiki": true, "has_pages": false, "archived": false, "disabled": false, "license": nil,
		"pushed_at": "2026-01-01T00:00:00Z", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
	}
	for k, suffix := range map[string]string{
		"archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}", "blobs_url": "/git/blobs{/sha}",
		"branches_url": "/branches{/branch}", "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
		"commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}", "contents_url": "/contents/{+path}",
		"contributors_url": "/contributors", "deployments_url": "/deployments", "downloads_url": "/downloads", "events_url": "/events",
		"forks_url": "/forks", "git_commits_url": "/git/commits{/sha}", "git_refs_url": "/git/refs{/sha}", "git_tags_url": "/git/tags{/sha}",
		"hooks_url": "/hooks", "issue_comment_url": "/issues/comments{/number}", "issue_events_url": "/issues/events{/number}",
		"issues_url": "/issues{/number}", "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}", "languages_url": "/languages",
		"merges_url": "/merges", "milestones_url": "/milestones{/number}", "notifications_url": "/notifications{?since,all,participating}",
		"pulls_url": "/pulls{/number}", "releases_url": "/releases{/id}", "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
		"subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags", "teams_url": "/teams",
		"trees_url": "/git/trees{/sha}",
	} {
		m[k] = api + suffix
	}
	return m
}
