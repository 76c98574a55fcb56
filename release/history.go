package release

import (
	"sort"
	"strings"
)

// Section is the part of history a release tag added: the commits
// reachable from it and from no older release.
type Section struct {
	Tag      *Tag // nil: not released yet
	Previous *Tag
	Commits  []Commit // newest first
}

// Sections splits a whole history (newest first, with parents) into one
// section per release tag, newest release first, plus the unreleased
// commits first when there are any. Tags are taken oldest version first:
// each claims the commits it reaches that no older release reached. The
// walk is linear in the number of commits.
func Sections(commits []Commit, tags []Tag) []Section {
	byID := make(map[string]int, len(commits))
	for i, c := range commits {
		byID[c.SHA] = i
	}
	asc := append([]Tag(nil), tags...)
	sort.SliceStable(asc, func(i, j int) bool { return asc[i].Version.LessThan(asc[j].Version) })
	owner := make([]int32, len(commits)) // 0: none, else tag index+1
	for ti, t := range asc {
		stack := []string{t.SHA}
		for len(stack) > 0 {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			i, ok := byID[s]
			if !ok || owner[i] != 0 {
				continue
			}
			owner[i] = int32(ti + 1)
			stack = append(stack, commits[i].Parents...)
		}
	}
	buckets := make([][]Commit, len(asc)+1)
	for i, c := range commits {
		buckets[owner[i]] = append(buckets[owner[i]], c)
	}
	var out []Section
	if len(buckets[0]) > 0 {
		var prev *Tag
		if len(asc) > 0 {
			prev = &asc[len(asc)-1]
		}
		out = append(out, Section{Previous: prev, Commits: buckets[0]})
	}
	for ti := len(asc) - 1; ti >= 0; ti-- {
		s := Section{Tag: &asc[ti], Commits: buckets[ti+1]}
		if ti > 0 {
			s.Previous = &asc[ti-1]
		}
		out = append(out, s)
	}
	return out
}

// FullChangelog renders a whole CHANGELOG.md from history: the header and
// one entry per release tag, newest first. Unreleased commits are left out.
func FullChangelog(commits []Commit, tags []Tag, in ChangesInput, t Templates) (string, error) {
	var b strings.Builder
	b.WriteString(ChangelogHeader)
	for _, s := range Sections(commits, tags) {
		if s.Tag == nil {
			continue
		}
		ci := in
		ci.Commits, ci.Head = s.Commits, s.Tag.SHA
		p := &Plan{Version: s.Tag.Version.String(), Tag: s.Tag.Name, Changes: Changes(ci), policy: in.Policy}
		if s.Previous != nil {
			p.Previous, p.PreviousTag = s.Previous.Version.String(), s.Previous.Name
		}
		date := ""
		if len(s.Commits) > 0 {
			date = s.Commits[0].Time.Format("2006-01-02")
		}
		entry, err := t.RenderChangelogEntry(NewNotes(p, date, in.Links, nil))
		if err != nil {
			return "", err
		}
		b.WriteString("\n")
		b.WriteString(entry)
	}
	return b.String(), nil
}
