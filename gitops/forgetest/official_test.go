package forgetest

import (
	"strings"
	"testing"
)

// TestGitLabOfficialDescriptionChecks shows that the check against the
// excerpt of GitLab's own description finds what it is there to find: a
// field typed differently, a status code the file does not describe,
// wrong elements of an entity list the file writes as a bare $ref — and
// lets through what Swagger 2.0 cannot say (null) and what the excerpt
// lacks (an operation it does not describe).
func TestGitLabOfficialDescriptionChecks(t *testing.T) {
	d, err := GitLabOfficialDescription()
	if err != nil {
		t.Fatal(err)
	}
	const status = "/api/v4/projects/42/statuses/abc"
	const release = "/api/v4/projects/42/releases/v1.0"
	for _, tc := range []struct {
		name   string
		req    Request
		wantIn string // "" when the answer conforms
	}{
		{"conforming status", Request{Method: "POST", Path: status, Status: 200,
			Response: []byte(`{"id":1,"sha":"abc","status":"running","target_url":null,"coverage":null,"author":{"id":1,"username":"u"}}`)}, ""},
		{"id as string", Request{Method: "POST", Path: status, Status: 200,
			Response: []byte(`{"id":"1","sha":"abc"}`)}, "$.id: string, described as integer"},
		{"nested author id as string", Request{Method: "POST", Path: status, Status: 200,
			Response: []byte(`{"id":1,"author":{"id":"1"}}`)}, "$.author.id: string, described as integer"},
		{"bad date-time", Request{Method: "POST", Path: status, Status: 200,
			Response: []byte(`{"id":1,"created_at":"yesterday"}`)}, "is not a date-time"},
		{"undescribed status code", Request{Method: "POST", Path: status, Status: 409,
			Response: []byte(`{"message":"x"}`)}, "answered 409, described: 200, 400, 401, 403, 404"},
		{"entity list as bare $ref, good", Request{Method: "GET", Path: release, Status: 200,
			Response: []byte(`{"tag_name":"v1.0","assets":{"count":1,"links":[{"id":3,"name":"iso"}]}}`)}, ""},
		{"entity list as bare $ref, bad element", Request{Method: "GET", Path: release, Status: 200,
			Response: []byte(`{"tag_name":"v1.0","assets":{"links":[{"id":"3"}]}}`)}, "$.assets.links[0].id: string, described as integer"},
		{"release commit typed wrong", Request{Method: "GET", Path: release, Status: 200,
			Response: []byte(`{"tag_name":"v1.0","commit":"abc"}`)}, "$.commit: string, described as object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diffs := strings.Join(d.Check(tc.req), "\n")
			if tc.wantIn == "" && diffs != "" {
				t.Fatalf("conforming answer flagged:\n%s", diffs)
			}
			if tc.wantIn != "" && !strings.Contains(diffs, tc.wantIn) {
				t.Fatalf("want a difference containing %q, got:\n%s", tc.wantIn, diffs)
			}
		})
	}
	// An allowed status code passes only for the operation it is given for.
	d.Allow("POST /projects/{id}/statuses/{sha}", 201, "test")
	if diffs := d.Check(Request{Method: "POST", Path: status, Status: 201, Response: []byte(`{}`)}); len(diffs) != 0 {
		t.Errorf("allowed 201 flagged: %v", diffs)
	}
	if diffs := d.Check(Request{Method: "POST", Path: "/api/v4/projects/42/releases/v1.0/assets/links", Status: 200, Response: []byte(`{}`)}); len(diffs) == 0 {
		t.Error("200 for creating a link (described: 201) passed")
	}
	// The excerpt is partial: operations it lacks are not its business.
	if op := d.Operation("GET", "/api/v4/projects/42/milestones"); op != "" {
		t.Errorf("milestones are not in the excerpt, matched %q", op)
	}
}
