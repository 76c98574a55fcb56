package release

import (
	"regexp"
	"strings"
	"testing"
)

// planAfter makes the plan of everything after the first commit (the
// release v1.0.0) of h.
func planAfter(t *testing.T, h *hist, pol *Policy, mrs ...MergeRequest) *Plan {
	t.Helper()
	last := &Tag{Name: "v1.0.0", SHA: h.commits[0].SHA, Version: v("1.0.0")}
	p, err := MakePlan(PlanInput{Prefix: "v", LastStable: last, LastAny: last, Commits: h.newestFirst(1), Head: h.head,
		MergeRequests: mrs, Labels: DefaultLabels(), Links: gitlabLinks, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func descriptions(cs []Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Description)
	}
	return strings.Join(out, "|")
}

func TestReverts(t *testing.T) {
	none := &Policy{RevertReleased: NoBump}
	cases := []struct {
		name string
		// build adds the history after the release (the first commit,
		// "feat: shipped", is v1.0.0).
		build func(h *hist)
		pol   *Policy
		// version is "" for nothing to release; notes are the changes'
		// descriptions, newest first; reverted how many changes left.
		version, notes string
		reverted       int
	}{
		{name: "git's revert line, same range", build: func(h *hist) {
			s := h.line("feat: new api\n\nBREAKING CHANGE: the old one is gone")
			h.line("Revert \"feat: new api\"\n\nThis reverts commit " + s + ".")
		}, reverted: 2},
		{name: "revert line with an abbreviated id, other changes stay", build: func(h *hist) {
			h.line("fix: keep pins")
			s := h.line("feat: new api")
			h.line("docs: more")
			h.line("Revert \"something else entirely\"\n\nThis reverts commit " + s[:12] + ".")
		}, version: "1.0.1", notes: "more|keep pins", reverted: 2},
		{name: "quoted subject only, GitHub suffixes", build: func(h *hist) {
			h.line("feat: new api (#12)")
			h.line("Revert \"feat: new api (#12)\" (#13)")
		}, reverted: 2},
		{name: "quoted subject only, GitLab suffix on the revert", build: func(h *hist) {
			h.line("feat!: new api")
			h.line("Revert \"feat!: new api\" (!13)")
		}, reverted: 2},
		{name: "the revert line wins over the subject", build: func(h *hist) {
			a := h.line("fix: a")
			h.line("fix: a") // same subject, newer: the subject alone would pick it
			h.line("Revert \"fix: a\"\n\nThis reverts commit " + a + ".")
		}, version: "1.0.1", notes: "a", reverted: 2},
		{name: "revert of a revert brings the change back", build: func(h *hist) {
			a := h.line("feat: new api")
			r := h.line("Revert \"feat: new api\"\n\nThis reverts commit " + a + ".")
			h.line("Revert \"Revert \"feat: new api\"\"\n\nThis reverts commit " + r + ".")
		}, version: "1.1.0", notes: "new api", reverted: 2},
		{name: "revert of a revert by quoted subjects", build: func(h *hist) {
			h.line("feat: new api (#3)")
			h.line("Revert \"feat: new api (#3)\" (#4)")
			h.line("Revert \"Revert \"feat: new api (#3)\"\" (#5)")
		}, version: "1.1.0", notes: "new api", reverted: 2},
		{name: "two changes of one subject, each reverted once", build: func(h *hist) {
			h.line("fix: a")
			h.line("fix: a")
			h.line("Revert \"fix: a\"")
			h.line("Revert \"fix: a\"")
		}, reverted: 4},
		{name: "three reverts: gone again", build: func(h *hist) {
			a := h.line("feat: new api")
			r := h.line("Revert \"feat: new api\"\n\nThis reverts commit " + a + ".")
			rr := h.line("Revert \"Revert \"feat: new api\"\"\n\nThis reverts commit " + r + ".")
			h.line("Revert \"Revert \"Revert \"feat: new api\"\"\"\n\nThis reverts commit " + rr + ".")
		}, reverted: 4},
		{name: "revert of a released change is a patch", build: func(h *hist) {
			h.line("Revert \"feat: shipped\"\n\nThis reverts commit " + h.commits[0].SHA + ".")
		}, version: "1.0.1", notes: "Revert \"feat: shipped\""},
		{name: "released, by quoted subject", build: func(h *hist) {
			h.line("Revert \"feat: shipped long ago (#2)\" (#9)")
		}, version: "1.0.1", notes: "Revert \"feat: shipped long ago (#2)\""},
		{name: "released, revert_bump none", pol: none, build: func(h *hist) {
			h.line("Revert \"feat: shipped\"\n\nThis reverts commit " + h.commits[0].SHA + ".")
		}, notes: "Revert \"feat: shipped\""},
		{name: "released, reverted then restored in the range", build: func(h *hist) {
			r := h.line("Revert \"feat: shipped\"\n\nThis reverts commit " + h.commits[0].SHA + ".")
			h.line("Revert \"Revert \"feat: shipped\"\"\n\nThis reverts commit " + r + ".")
		}, reverted: 2},
		{name: "a cherry-picked change reverted by its staging id", build: func(h *hist) {
			h.line("feat: picked\n\n(cherry picked from commit " + sha(77) + ")")
			h.line("Revert \"feat: picked\"\n\nThis reverts commit " + sha(77) + ".")
		}, reverted: 2},
		{name: "a merged revert branch", build: func(h *hist) {
			a := h.line("feat: x (!4)")
			h.merge("Merge branch 'revert-x' into 'main'\n\nRevert \"feat: x\"\n\nSee merge request appliance/os!5",
				"Revert \"feat: x\"\n\nThis reverts commit "+a+".")
		}, reverted: 2},
		{name: "a revert of one commit of a larger merge leaves the MR", build: func(h *hist) {
			h.merge("Merge branch 'api' into 'main'\n\nfix: new api\n\nSee merge request appliance/os!6", "fix: new api", "docs: api")
			h.line("Revert \"docs: api\"\n\nThis reverts commit " + h.commits[len(h.commits)-2].SHA + ".")
		}, version: "1.0.1", notes: "Revert \"docs: api\"|new api"},
		{name: "conventional revert type of an unknown change still asks for a patch", build: func(h *hist) {
			h.line("revert: drop the cache")
		}, version: "1.0.1", notes: "drop the cache"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := &hist{}
			h.line("feat: shipped")
			c.build(h)
			p := planAfter(t, h, c.pol)
			if p.Version != c.version || p.Releasable != (c.version != "") {
				t.Errorf("version %q (releasable %v), want %q; reason %q", p.Version, p.Releasable, c.version, p.Reason)
			}
			if got := descriptions(p.Changes); got != c.notes {
				t.Errorf("notes %q, want %q", got, c.notes)
			}
			if len(p.Reverted) != c.reverted {
				t.Errorf("%d reverted (%s), want %d", len(p.Reverted), descriptions(p.Reverted), c.reverted)
			}
			if c.reverted > 0 && c.version != "" && !strings.Contains(p.Reason, "reverted in the range") {
				t.Errorf("reason %q does not say what was left out", p.Reason)
			}
		})
	}
}

func TestParseRevert(t *testing.T) {
	cases := []struct {
		msg, sha, subject string
		ok                bool
	}{
		{"Revert \"feat: a\"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.", "0123456789abcdef0123456789abcdef01234567", "feat: a", true},
		{"Revert \"feat: a (#3)\" (#4)", "", "feat: a", true},
		{"Revert \"feat: a\" (!4)", "", "feat: a", true},
		{"Revert \"Revert \"feat: a\"\"", "", "Revert \"feat: a\"", true},
		{"revert: feat: a\n\nThis reverts commit abcdef1.", "abcdef1", "", true},
		{"Revert the cache change", "", "", false},
		{"Revert \"\"", "", "", false},
		{"fix: says This reverts commit abcdef1 mid-line", "", "", false},
	}
	for _, c := range cases {
		r, ok := ParseRevert(c.msg)
		if ok != c.ok || r.SHA != c.sha || r.Subject != c.subject {
			t.Errorf("ParseRevert(%q) = %+v, %v; want sha %q subject %q ok %v", c.msg, r, ok, c.sha, c.subject, c.ok)
		}
	}
}

func TestRules(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name  string
		rules []Rule
		msg   string
		want  Bump
	}{
		{"default feat", nil, "feat: a", Minor},
		{"default fix", nil, "fix(ui): a", Patch},
		{"default perf", nil, "perf: a", Patch},
		{"default breaking bang", nil, "refactor(config)!: rename", Major},
		{"default breaking footer", nil, "docs: a\n\nBREAKING CHANGE: b", Major},
		{"default chore", nil, "chore: a", NoBump},
		{"default plain", nil, "Update README", NoBump},
		{"type and scope", []Rule{{Type: "chore", Scope: "deps", Bump: Patch}}, "chore(deps): bump x", Patch},
		{"type and scope, other scope", []Rule{{Type: "chore", Scope: "deps", Bump: Patch}}, "chore(ci): x", NoBump},
		{"scope glob", []Rule{{Type: "docs", Scope: "read*", Bump: Patch}}, "docs(README): x", Patch},
		{"scope alone beats the default", []Rule{{Scope: "no-release", Bump: NoBump}}, "feat(no-release): a", NoBump},
		{"first match wins", []Rule{{Type: "feat", Bump: Patch}, {Type: "feat", Bump: Major}}, "feat: a", Patch},
		{"breaking true", []Rule{{Type: "docs", Breaking: &yes, Bump: Minor}}, "docs!: a", Minor},
		{"breaking false", []Rule{{Type: "feat", Breaking: &no, Bump: Patch}}, "feat!: a", Major},
		{"subject", []Rule{{Subject: regexp.MustCompile(`^security`), Bump: Patch}}, "chore: security update of x", Patch},
		{"subject of a plain message", []Rule{{Subject: regexp.MustCompile(`(?i)^hotfix`), Bump: Patch}}, "Hotfix the mirror", Patch},
		{"type never matches a plain message", []Rule{{Type: "Update", Bump: Patch}}, "Update README", NoBump},
	}
	for _, c := range cases {
		pol := &Policy{Rules: c.rules}
		if got, _ := pol.bump(ParseConventional(c.msg)); got != c.want {
			t.Errorf("%s: %q gives %s, want %s", c.name, c.msg, got, c.want)
		}
	}
}

// Rules decide the plan, and its reason names the change's kind or type.
func TestPlanRulesAndReason(t *testing.T) {
	h := &hist{}
	h.line("feat: shipped")
	h.line("chore(deps): bump yaml to 3.0.1")
	p := planAfter(t, h, &Policy{Rules: []Rule{{Type: "chore", Scope: "deps", Bump: Patch}}})
	if p.Version != "1.0.1" || !strings.Contains(p.Reason, "by release.rules[0] (chore(deps): bump yaml to 3.0.1)") {
		t.Errorf("version %s reason %q", p.Version, p.Reason)
	}
	h.line("refactor(config)!: Rename images to template")
	p = planAfter(t, h, nil)
	if p.Version != "2.0.0" || !strings.Contains(p.Reason, "(breaking: Rename images to template)") {
		t.Errorf("version %s reason %q", p.Version, p.Reason)
	}
	// Nothing asks for a release: the reason points at the rules.
	h = &hist{}
	h.line("feat: shipped")
	h.line("feat(no-release): experiment")
	p = planAfter(t, h, &Policy{Rules: []Rule{{Scope: "no-release", Bump: NoBump}}})
	if p.Releasable || !strings.Contains(p.Reason, "release.rules") {
		t.Errorf("releasable %v reason %q", p.Releasable, p.Reason)
	}
}

func TestSections(t *testing.T) {
	h := &hist{}
	h.line("feat: shipped")
	h.line("feat: a")
	h.line("chore(deps): b")
	h.line("docs: c")
	h.line("fix!: d")
	pol := &Policy{Sections: []NoteSection{{Title: "New", Types: []string{"feat"}}, {Title: "Dependencies", Types: []string{"chore"}}}}
	p := planAfter(t, h, pol)
	n := NewNotes(p, "2026-12-03", gitlabLinks, nil)
	var got []string
	for _, g := range n.Groups {
		got = append(got, g.Title+":"+descriptions(g.Changes))
	}
	// No breaking section: the breaking fix goes under its type, and no
	// section takes fix or docs, so they are left out.
	if strings.Join(got, " ") != "New:a Dependencies:b" {
		t.Errorf("groups %q", got)
	}
	// The defaults: every change somewhere, breaking first.
	n = NewNotes(planAfter(t, h, nil), "2026-12-03", gitlabLinks, nil)
	got = nil
	for _, g := range n.Groups {
		got = append(got, g.Title+":"+descriptions(g.Changes))
	}
	if strings.Join(got, " ") != "Breaking changes:d Features:a Other:c|b" {
		t.Errorf("default groups %q", got)
	}
}

func TestParseOverride(t *testing.T) {
	cases := []struct {
		desc string
		want []string
	}{
		{"Fixes the thing.", nil},
		{"BEGIN_COMMIT_OVERRIDE\nfeat: a\nEND_COMMIT_OVERRIDE", []string{"feat: a"}},
		{"text\r\n\r\nBEGIN_COMMIT_OVERRIDE\r\nfeat(api): a\r\n\r\nBREAKING CHANGE: b\r\nRefs: #3\r\nfix: c\r\nEND_COMMIT_OVERRIDE\r\nmore",
			[]string{"feat(api): a\n\nBREAKING CHANGE: b\nRefs: #3", "fix: c"}},
		{"BEGIN_COMMIT_OVERRIDE\nNot conventional\nstill the same message\nEND_COMMIT_OVERRIDE", []string{"Not conventional\nstill the same message"}},
		{"BEGIN_COMMIT_OVERRIDE\n\nEND_COMMIT_OVERRIDE", nil},
		{"BEGIN_COMMIT_OVERRIDE\nfeat: unterminated", nil},
	}
	for _, c := range cases {
		got, ok := ParseOverride(c.desc)
		if ok != (c.want != nil) || strings.Join(got, "\x00") != strings.Join(c.want, "\x00") {
			t.Errorf("ParseOverride(%q) = %q, %v; want %q", c.desc, got, ok, c.want)
		}
	}
}

func TestPlanOverride(t *testing.T) {
	h := &hist{}
	h.line("feat: shipped")
	sq := h.line("Update stuff (#5)")
	h.line("docs: typo")
	mr := MergeRequest{Number: 5, Title: "Update stuff", SquashSHA: sq,
		Description: "Oops, typed wrong.\n\nBEGIN_COMMIT_OVERRIDE\nfeat(api): page the list (#5)\nfix: count from one\nEND_COMMIT_OVERRIDE\n"}
	p := planAfter(t, h, nil, mr)
	if p.Version != "1.1.0" || !strings.Contains(p.Reason, "override block of MR !5") {
		t.Errorf("version %s reason %q", p.Version, p.Reason)
	}
	if got := descriptions(p.Changes); got != "typo|page the list|count from one" {
		t.Errorf("changes %q", got)
	}
	if len(p.Overrides) != 1 || p.Overrides[0] != 5 || !p.Changes[1].Override || p.Changes[1].MergeRequest.Number != 5 {
		t.Errorf("overrides %v, change %+v", p.Overrides, p.Changes[1])
	}
	if n := p.Changes[1].Commits + p.Changes[2].Commits; n != 1 {
		t.Errorf("the squash commit counted %d times", n)
	}
	// The override can also take a release away.
	mr.Title, mr.Description = "feat: everything", "BEGIN_COMMIT_OVERRIDE\nchore: tidy up\nEND_COMMIT_OVERRIDE"
	if p := planAfter(t, h, nil, mr); p.Releasable {
		t.Errorf("override to chore still released %s: %s", p.Version, p.Reason)
	}
}

// A GitHub squash subject's own "(#N)" is not repeated: the notes name
// the MR once, in the project's form.
func TestOwnReferenceNamedOnce(t *testing.T) {
	h := &hist{}
	h.line("feat: shipped")
	sq := h.line("fix: retry the mirror (#7)")
	p := planAfter(t, h, nil, MergeRequest{Number: 7, SquashSHA: sq})
	line := ChangeLine(p.Changes[0], gitlabLinks)
	if line != "- retry the mirror ([!7](https://gitlab.example.com/appliance/os/-/merge_requests/7))" {
		t.Errorf("line %q", line)
	}
}

// A revert of one commit inside a merge of several in the range is not a
// revert of a released change: it asks for nothing by itself.
func TestRevertInsideAMerge(t *testing.T) {
	h := &hist{}
	h.line("feat: shipped")
	h.merge("Merge branch 'api' into 'main'\n\ndocs: api pages\n\nSee merge request appliance/os!6", "docs: api", "docs: more")
	h.line("Revert \"docs: api\"\n\nThis reverts commit " + h.commits[len(h.commits)-3].SHA + ".")
	p := planAfter(t, h, nil)
	if p.Releasable || len(p.Changes) != 2 || p.Changes[0].Type != "revert" || strings.Contains(p.Changes[0].Reason, "released") {
		t.Errorf("releasable %v (%s), changes %+v", p.Releasable, p.Reason, p.Changes)
	}
}
