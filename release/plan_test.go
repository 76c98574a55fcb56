package release

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./release -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test ./release -update rewrites it):\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

// history builds commits newest first from oldest-first messages on one
// line; "merge:N:title" makes a merge of the previous commit (the MR's
// commit) into the line, "side:" makes a commit on the side branch.
type hist struct {
	commits []Commit // oldest first while building
	head    string
	n       int
}

func (h *hist) add(msg string, parents ...string) string {
	h.n++
	s := sha(1000 + h.n)
	h.commits = append(h.commits, Commit{SHA: s, Parents: parents, Message: msg, Author: "dev", Time: time.Date(2026, 11, 1, 0, 0, h.n, 0, time.UTC)})
	return s
}

// line adds a commit on the main line.
func (h *hist) line(msg string) string {
	var p []string
	if h.head != "" {
		p = []string{h.head}
	}
	h.head = h.add(msg, p...)
	return h.head
}

// merge adds side-branch commits forked from head and a merge commit.
func (h *hist) merge(msg string, side ...string) string {
	base := h.head
	tip := base
	for _, m := range side {
		tip = h.add(m, tip)
	}
	h.head = h.add(msg, base, tip)
	return h.head
}

func (h *hist) newestFirst(from int) []Commit {
	var out []Commit
	for i := len(h.commits) - 1; i >= from; i-- {
		out = append(out, h.commits[i])
	}
	return out
}

var gitlabLinks = Links{
	MergeRequest: "https://gitlab.example.com/appliance/os/-/merge_requests/%d",
	Issue:        "https://gitlab.example.com/appliance/os/-/issues/%d",
	Commit:       "https://gitlab.example.com/appliance/os/-/commit/%s",
	Compare:      "https://gitlab.example.com/appliance/os/-/compare/%s...%s",
	MRRef:        "!%d", IssueRef: "#%d",
}

// weekly is a realistic week of history after v1.3.0.
func weekly() (*hist, *Tag, []MergeRequest) {
	h := &hist{}
	h.line("chore: initial")
	tagSHA := h.line("chore(release): 1.3.0")
	start := len(h.commits)
	h.merge("Merge branch 'login' into 'main'\n\nfeat(ui): log in with SSO\n\nSee merge request appliance/os!12", "wip", "more wip")
	squash := h.line("Add retry to the mirror sync")
	h.line("fix(apt): keep pinned versions ✨ ünïcode\n\nCloses #31")
	h.line("perf: walk history from the last tag")
	h.line("refactor!: rename the config section\n\nBREAKING CHANGE: `images:` is now `template:`;\nrename the key in pipeline.yaml.")
	h.line("Update README")
	h.line("docs: explain milestones")
	_ = start
	mrs := []MergeRequest{
		{Number: 12, Title: "feat(ui): log in with SSO", Labels: []string{"frontend"}, MergeSHA: h.commits[start+2].SHA,
			Closes: []Issue{{Number: 20, Title: "SSO login"}}},
		{Number: 14, Title: "Mirror sync retries", Labels: []string{"Bug"}, SquashSHA: squash},
	}
	return h, &Tag{Name: "v1.3.0", SHA: tagSHA, Version: v("1.3.0")}, mrs
}

func TestPlanWeekly(t *testing.T) {
	h, last, mrs := weekly()
	p, err := MakePlan(PlanInput{
		Prefix: "v", LastStable: last, LastAny: last, Existing: vs("1.3.0"),
		Commits: h.newestFirst(2), Head: h.head, MergeRequests: mrs,
		MilestoneIssues: []Issue{{Number: 20, Title: "SSO login"}, {Number: 40, Title: "Docs for the weekly flow"}},
		Labels:          DefaultLabels(), Links: gitlabLinks, Initial: v("0.1.0"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Releasable || p.Version != "2.0.0" || p.Tag != "v2.0.0" || p.Bump != Major || p.Previous != "1.3.0" {
		t.Fatalf("plan %+v", p)
	}
	if !strings.Contains(p.Reason, "major") || !strings.Contains(p.Reason, "rename the config section") {
		t.Errorf("reason %q", p.Reason)
	}
	// 7 changes: the merge stands for its two commits; nothing dropped.
	total := 0
	for _, c := range p.Changes {
		total += c.Commits
	}
	if len(p.Changes) != 7 || total != 9 {
		t.Errorf("%d changes for %d commits, want 7 for 9", len(p.Changes), total)
	}
	want := map[string]int{"breaking": 1, "feature": 1, "fix": 2, "performance": 1, "other": 2}
	for k, n := range want {
		if p.Counts[k] != n {
			t.Errorf("count %s = %d, want %d (%v)", k, p.Counts[k], n, p.Counts)
		}
	}
	if len(p.ClosedIssues) != 1 || p.ClosedIssues[0].Number != 40 {
		t.Errorf("closed issues %v, want only #40 (#20 is linked from !12)", p.ClosedIssues)
	}

	n := NewNotes(p, "2026-11-21", gitlabLinks, []Artifact{{Name: "appliance.qcow2", URL: "https://s3.example.com/a/appliance.qcow2"}})
	tm := Templates{Links: gitlabLinks}
	notes, err := tm.RenderNotes(n)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "notes.md", notes)
	entry, err := tm.RenderChangelogEntry(n)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "changelog-entry.md", entry)
	body, err := tm.RenderMRBody(n)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "mr-body.md", body)
}

func TestPlanNothingToRelease(t *testing.T) {
	h := &hist{}
	tag := h.line("feat: first")
	h.line("docs: typo")
	h.line("chore: bump deps")
	h.line("not conventional")
	last := &Tag{Name: "v1.0.0", SHA: tag, Version: v("1.0.0")}
	p, err := MakePlan(PlanInput{Prefix: "v", LastStable: last, LastAny: last, Commits: h.newestFirst(1), Head: h.head, Labels: DefaultLabels()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Releasable || p.Version != "" {
		t.Fatalf("releasable: %+v", p)
	}
	if len(p.Changes) != 3 || p.Counts["other"] != 3 || !strings.Contains(p.Reason, "3 change(s) since v1.0.0") {
		t.Errorf("plan %+v", p)
	}
	// --bump releases anyway.
	p, err = MakePlan(PlanInput{Prefix: "v", LastStable: last, LastAny: last, Commits: h.newestFirst(1), Head: h.head, Forced: Patch})
	if err != nil || p.Version != "1.0.1" {
		t.Fatalf("--bump patch: %+v %v", p, err)
	}
}

func TestPlanLabelsAndSquash(t *testing.T) {
	h := &hist{}
	tag := h.line("chore: start")
	sq := h.line("Mirror the new suite (#5)") // squash commit, GitHub style
	m := h.merge("Merge pull request #6 from org/x\n\nSmall thing", "tweak")
	last := &Tag{Name: "v1.0.0", SHA: tag, Version: v("1.0.0")}
	mrs := []MergeRequest{
		{Number: 5, Title: "Mirror the new suite", Labels: []string{"enhancement"}, SquashSHA: sq},
		{Number: 6, Title: "Small thing", Labels: []string{"breaking"}, MergeSHA: m},
	}
	p, err := MakePlan(PlanInput{Prefix: "v", LastStable: last, LastAny: last, Commits: h.newestFirst(1), Head: h.head, MergeRequests: mrs, Labels: DefaultLabels(),
		Links: Links{MRRef: "#%d"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != "2.0.0" || !strings.Contains(p.Reason, "label breaking on #6") {
		t.Errorf("version %s reason %q", p.Version, p.Reason)
	}
	if p.Changes[1].Kind != Feature || p.Changes[1].Description != "Mirror the new suite" || p.Changes[1].MergeRequest.Number != 5 {
		t.Errorf("squash change %+v", p.Changes[1])
	}
	// Without labels the same history is not releasable: titles are plain.
	p, _ = MakePlan(PlanInput{Prefix: "v", LastStable: last, LastAny: last, Commits: h.newestFirst(1), Head: h.head, MergeRequests: mrs})
	if p.Releasable {
		t.Errorf("plain titles without label mapping released %s", p.Version)
	}
	// A squash commit whose MR title is conventional counts by the title.
	mrs[0].Title, mrs[0].Labels = "fix: mirror the new suite", nil
	p, _ = MakePlan(PlanInput{Prefix: "v", LastStable: last, LastAny: last, Commits: h.newestFirst(1), Head: h.head, MergeRequests: mrs})
	if p.Version != "1.0.1" {
		t.Errorf("squash by MR title: %s", p.Version)
	}
}

func TestPlanPreReleaseSequence(t *testing.T) {
	h := &hist{}
	stable := h.line("chore(release): 1.3.0")
	h.line("feat: a")
	rc1 := h.line("chore(release): 1.4.0-rc.1")
	tags := []*Tag{{Name: "v1.3.0", SHA: stable, Version: v("1.3.0")}, {Name: "v1.4.0-rc.1", SHA: rc1, Version: v("1.4.0-rc.1")}}
	in := PlanInput{Prefix: "v", LastStable: tags[0], LastAny: tags[1], Existing: vs("1.3.0", "1.4.0-rc.1"), Pre: "rc"}

	// Nothing new since rc.1: no rc.2.
	in.Commits, in.Head = h.newestFirst(1), h.head
	p, err := MakePlan(in)
	if err != nil || p.Releasable {
		t.Fatalf("no new change made %+v %v", p, err)
	}
	h.line("fix: b")
	in.Commits, in.Head = h.newestFirst(1), h.head
	p, err = MakePlan(in)
	if err != nil || p.Version != "1.4.0-rc.2" || len(p.Changes) != 1 || p.PreviousTag != "v1.4.0-rc.1" {
		t.Fatalf("rc.2: %+v %v", p, err)
	}
	// The final release lists everything since 1.3.0 and compares with it.
	in.Pre = ""
	p, err = MakePlan(in)
	if err != nil || p.Version != "1.4.0" || len(p.Changes) != 2 || p.PreviousTag != "v1.3.0" { // the rc release commit is not a change
		t.Fatalf("final: %+v %v", p, err)
	}
	// Promoting rc.1 as is, with no new change, is a release too.
	in.Commits, in.Head = h.newestFirst(1)[1:], rc1
	p, err = MakePlan(in)
	if err != nil || p.Version != "1.4.0" || !strings.Contains(p.Reason, "promotes v1.4.0-rc.1") {
		t.Fatalf("promote: %+v %v", p, err)
	}
}

func TestPlanFirstRelease(t *testing.T) {
	h := &hist{}
	h.line("Initial commit")
	h.line("feat: something")
	p, err := MakePlan(PlanInput{Prefix: "v", Commits: h.newestFirst(0), Head: h.head, Initial: v("0.1.0")})
	if err != nil || p.Version != "0.1.0" || p.Previous != "" || len(p.Changes) != 2 || p.Reason != "first release" {
		t.Fatalf("%+v %v", p, err)
	}
}

func TestChangesNeverDropsCommits(t *testing.T) {
	h := &hist{}
	h.line("root")
	h.merge("Merge branch 'a'", "a1", "a2")
	h.merge("Merge branch 'b'", "b1")
	// A criss-cross: a commit merged twice belongs to the first merge.
	h.line("x")
	ch := Changes(ChangesInput{Commits: h.newestFirst(0), Head: h.head})
	total := 0
	for _, c := range ch {
		total += c.Commits
	}
	if total != len(h.commits) {
		t.Fatalf("%d commits accounted for, want %d", total, len(h.commits))
	}
	// A range given without its head still lists every commit.
	ch = Changes(ChangesInput{Commits: h.newestFirst(0), Head: "nothere"})
	if len(ch) != len(h.commits) {
		t.Fatalf("headless: %d changes for %d commits", len(ch), len(h.commits))
	}
}
