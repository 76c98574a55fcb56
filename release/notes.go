package release

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/pipeline-ci/pipeline/templates"
)

// Notes is the model every release text is rendered from: the forge
// release notes, the CHANGELOG.md entry and the release MR body.
type Notes struct {
	Version     string
	Tag         string
	Previous    string
	PreviousTag string
	Date        string // 2006-01-02
	Reason      string
	CompareURL  string
	Groups      []Group
	// ClosedIssues are issues closed in the milestone that no change names.
	ClosedIssues []Issue
	Artifacts    []Artifact
}

// Group is one heading of the notes: the changes of one kind.
type Group struct {
	Kind    Kind
	Title   string
	Changes []Change
	// Lines are the changes rendered as Markdown list items (see ChangeLine).
	Lines []string
}

// Artifact is a link to something build or template published.
type Artifact struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// NewNotes groups changes by the plan's sections (release.sections; by
// default Breaking changes, Features, Fixes, Performance, Reverts, Other),
// keeping each group in history order. A change no section takes is left
// out.
func NewNotes(p *Plan, date string, links Links, artifacts []Artifact) *Notes {
	n := &Notes{Version: p.Version, Tag: p.Tag, Previous: p.Previous, PreviousTag: p.PreviousTag,
		Date: date, Reason: p.Reason, ClosedIssues: p.ClosedIssues, Artifacts: artifacts}
	if links.Compare != "" && p.PreviousTag != "" && p.Tag != "" {
		n.CompareURL = sprintf(links.Compare, p.PreviousTag, p.Tag)
	}
	n.Groups = groupChanges(p.Changes, p.policy.sections())
	for i := range n.Groups {
		g := &n.Groups[i]
		g.Lines = make([]string, len(g.Changes))
		for j, c := range g.Changes {
			g.Lines[j] = ChangeLine(c, links)
		}
	}
	return n
}

// ChangeLine renders a change as a Markdown list item: scope, description, a
// link to its MR (or else its commit), the issues it closes, and an
// indented breaking-change note. It is Go rather than a template because
// a release can hold thousands of changes and this runs for each.
func ChangeLine(c Change, links Links) string {
	var b strings.Builder
	b.Grow(128 + len(c.Description))
	b.WriteString("- ")
	if c.Scope != "" {
		b.WriteString("**" + c.Scope + ":** ")
	}
	b.WriteString(c.Description)
	b.WriteString(" (")
	if c.MergeRequest != nil {
		b.WriteString(mdLink(sprintf(orDefault(links.MRRef, "!%d"), c.MergeRequest.Number), c.MergeRequest.URL))
	} else {
		b.WriteString(mdLink(c.Short(), c.CommitURL))
	}
	b.WriteString(")")
	for i, is := range c.Issues {
		if i == 0 {
			b.WriteString(", closes ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(mdLink(sprintf(orDefault(links.IssueRef, "#%d"), is.Number), is.URL))
	}
	if c.BreakingNote != "" {
		b.WriteString("\n  ")
		b.WriteString(strings.ReplaceAll(strings.TrimSpace(c.BreakingNote), "\n", "\n  "))
	}
	return b.String()
}

func mdLink(text, url string) string {
	if url == "" {
		return text
	}
	return "[" + text + "](" + url + ")"
}

// groupChanges sorts changes into their sections. A release can hold
// thousands of changes: each is placed once, into a group allocated to
// its final size, rather than copied as appends grow.
func groupChanges(changes []Change, secs []NoteSection) []Group {
	section := make([]int, len(changes))
	count := make([]int, len(secs))
	for k, c := range changes {
		section[k] = sectionOf(secs, c)
		if section[k] >= 0 {
			count[section[k]]++
		}
	}
	byTitle := make([][]Change, len(secs))
	for i, n := range count {
		byTitle[i] = make([]Change, 0, n)
	}
	for k := range changes {
		if i := section[k]; i >= 0 {
			byTitle[i] = append(byTitle[i], changes[k])
		}
	}
	var gs []Group
	for i, cs := range byTitle {
		if len(cs) > 0 {
			gs = append(gs, Group{Kind: cs[0].Kind, Title: secs[i].Title, Changes: cs})
		}
	}
	return gs
}

// Templates renders the release texts. Each field may hold a team's own
// template text; empty means the embedded default in templates/release/.
type Templates struct {
	Notes, Changelog, MergeRequest string
	// Links gives references their form ("!%d", "#%d").
	Links Links
}

// Template names of the embedded defaults.
const (
	NotesTemplate     = "release/notes.md.tmpl"
	ChangelogTemplate = "release/changelog-entry.md.tmpl"
	MRBodyTemplate    = "release/mr-body.md.tmpl"
	partialTemplate   = "release/change.md.tmpl"
)

// RenderNotes renders the forge release notes.
func (t Templates) RenderNotes(n *Notes) (string, error) {
	return t.render(NotesTemplate, t.Notes, n)
}

// RenderChangelogEntry renders the entry prepended to CHANGELOG.md.
func (t Templates) RenderChangelogEntry(n *Notes) (string, error) {
	return t.render(ChangelogTemplate, t.Changelog, n)
}

// RenderMRBody renders the description of the release MR.
func (t Templates) RenderMRBody(n *Notes) (string, error) {
	return t.render(MRBodyTemplate, t.MergeRequest, n)
}

func (t Templates) render(name, override string, n *Notes) (string, error) {
	src := override
	if src == "" {
		b, err := templates.Read(name)
		if err != nil {
			return "", err
		}
		src = string(b)
	}
	partial, err := templates.Read(partialTemplate)
	if err != nil {
		return "", err
	}
	tm, err := templates.ParseText(name, src, t.funcs())
	if err != nil {
		return "", err
	}
	// The shared "groups" block; an override may redefine it.
	if tm.Lookup("groups") == nil {
		if _, err := tm.New("partials").Parse(string(partial)); err != nil {
			return "", fmt.Errorf("template %s: %w", partialTemplate, err)
		}
	}
	out, err := templates.Render(tm, n)
	if err != nil {
		return "", err
	}
	return tidy(StripControl(out)), nil
}

func (t Templates) funcs() template.FuncMap {
	return template.FuncMap{
		"mrref":    func(n int) string { return sprintf(orDefault(t.Links.MRRef, "!%d"), n) },
		"issueref": func(n int) string { return sprintf(orDefault(t.Links.IssueRef, "#%d"), n) },
		"link":     mdLink,
		// indent keeps a multi-line note inside its list item.
		"indent": func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n  ") },
	}
}

// tidy trims trailing blank lines to exactly one newline and squeezes runs
// of blank lines, so that templates can be written for readability. One
// pass over the text: notes can run to thousands of lines.
func tidy(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 1)
	blank := true    // drop leading blank lines
	pending := false // a blank line to write before the next line of text
	for len(s) > 0 {
		l, rest, _ := strings.Cut(s, "\n")
		s = rest
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if !blank {
				pending = true
			}
			blank = true
			continue
		}
		if pending {
			b.WriteByte('\n')
			pending = false
		}
		blank = false
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return "\n"
	}
	return b.String()
}
