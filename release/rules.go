package release

import (
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Rule maps a kind of commit to a bump (release.rules in pipeline.yaml).
// Empty fields match anything; a rule matches when all its set fields do.
type Rule struct {
	// Type is the Conventional Commit type (feat, chore, ...); a rule with
	// a type never matches a message that is not a Conventional Commit.
	Type string
	// Scope is a glob (path.Match) on the scope: "deps", "ui-*".
	Scope string
	// Breaking, when set, requires the change to be breaking (true) or not.
	Breaking *bool
	// Subject matches the description (the header after the colon), or
	// the whole subject of a message that is not a Conventional Commit.
	Subject *regexp.Regexp
	Bump    Bump
}

// Matches reports whether the rule applies to cc.
func (r Rule) Matches(cc Conventional) bool {
	if r.Type != "" && (!cc.OK || !strings.EqualFold(r.Type, cc.Type)) {
		return false
	}
	if r.Scope != "" {
		if ok, _ := path.Match(strings.ToLower(r.Scope), strings.ToLower(cc.Scope)); !ok {
			return false
		}
	}
	if r.Breaking != nil && *r.Breaking != cc.Breaking {
		return false
	}
	if r.Subject != nil && !r.Subject.MatchString(cc.Description) {
		return false
	}
	return true
}

// DefaultRules are the built-in bump rules, tried after a team's own
// (docs/release.md lists them).
func DefaultRules() []Rule {
	yes := true
	return []Rule{
		{Breaking: &yes, Bump: Major},
		{Type: "feat", Bump: Minor},
		{Type: "feature", Bump: Minor},
		{Type: "fix", Bump: Patch},
		{Type: "perf", Bump: Patch},
		{Type: "revert", Bump: Patch},
	}
}

// NoteSection is one heading of the notes and the changes under it
// (release.sections in pipeline.yaml).
type NoteSection struct {
	Title string
	// Types are Conventional Commit types; "breaking" takes every breaking
	// change whatever its type, "*" every change no other section takes.
	Types []string
}

// DefaultSections are the notes' headings when the config gives none.
func DefaultSections() []NoteSection {
	return []NoteSection{
		{Title: "Breaking changes", Types: []string{"breaking"}},
		{Title: "Features", Types: []string{"feat", "feature"}},
		{Title: "Fixes", Types: []string{"fix"}},
		{Title: "Performance", Types: []string{"perf"}},
		{Title: "Reverts", Types: []string{"revert"}},
		{Title: "Other", Types: []string{"*"}},
	}
}

// Policy is how changes are weighed and listed: the team's bump rules,
// what a revert of a released change asks for, and the notes' sections.
type Policy struct {
	// Rules are tried first, then DefaultRules; the first match wins and
	// no match means no bump.
	Rules []Rule
	// RevertReleased is the bump a revert of an already released change
	// asks for.
	RevertReleased Bump
	// Sections of the notes; nil means DefaultSections.
	Sections []NoteSection
}

// DefaultPolicy is the policy when the config says nothing.
func DefaultPolicy() *Policy { return &Policy{RevertReleased: Patch} }

// bump returns what the first matching rule says about cc, and which rule
// ("rule 2" of the team's, or "" for a default).
func (p *Policy) bump(cc Conventional) (Bump, string) {
	for i, r := range p.Rules {
		if r.Matches(cc) {
			return r.Bump, "release.rules[" + strconv.Itoa(i) + "]"
		}
	}
	for _, r := range defaultRules {
		if r.Matches(cc) {
			return r.Bump, ""
		}
	}
	return NoBump, ""
}

var defaultRules = DefaultRules()

func (p *Policy) sections() []NoteSection {
	if p == nil || len(p.Sections) == 0 {
		return defaultSections
	}
	return p.Sections
}

var defaultSections = DefaultSections()

// sectionOf returns the index of the section change c goes in, or -1 when
// none takes it (it is left out of the notes).
func sectionOf(secs []NoteSection, c Change) int {
	typ := c.Type
	if typ == "" {
		typ = kindType[c.Kind]
	}
	rest := -1
	for i, s := range secs {
		for _, t := range s.Types {
			switch {
			case t == "breaking" && c.Kind == Breaking:
				return i
			case t == "*":
				if rest < 0 {
					rest = i
				}
			case t != "breaking" && strings.EqualFold(t, typ) && c.Kind != Breaking:
				return i
			}
		}
	}
	if c.Kind == Breaking { // no breaking section: under its type
		for i, s := range secs {
			for _, t := range s.Types {
				if strings.EqualFold(t, typ) {
					return i
				}
			}
		}
	}
	return rest
}

// kindType is the type a change has when only a label gave its kind.
var kindType = [...]string{Breaking: "", Feature: "feat", Fix: "fix", Performance: "perf", Other: ""}
