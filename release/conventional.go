package release

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Kind is the group a change goes in, in the order the notes list them.
type Kind int

const (
	Breaking Kind = iota
	Feature
	Fix
	Performance
	Other
)

var kindNames = [...]string{"breaking", "feature", "fix", "performance", "other"}

func (k Kind) String() string { return kindNames[k] }

// Title is the heading of the group in notes and changelog.
func (k Kind) Title() string {
	return [...]string{"Breaking changes", "Features", "Fixes", "Performance", "Other"}[k]
}

// MarshalText makes kinds readable in --json.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Conventional is a commit message (or MR title) read as a Conventional
// Commit (https://www.conventionalcommits.org/en/v1.0.0/).
type Conventional struct {
	// OK is false when the header is not `type(scope)!: description`.
	OK          bool
	Type        string // lower-cased: feat, fix, perf, chore, ...
	Scope       string
	Description string
	// Breaking is set by `!` before the colon or a BREAKING CHANGE footer.
	Breaking bool
	// BreakingNote is the text of the BREAKING CHANGE footer, if any.
	BreakingNote string
	// Closes are the issue numbers named by closing keywords
	// ("Closes #12", "Fixes: #3, #4").
	Closes []int
}

// parseHeader reads `type(scope)!: description`: a type of letters,
// digits, _ and - starting with a letter, an optional scope in
// parentheses, an optional !, a colon, at least one space and a
// description. Written out by hand: it runs on every commit of a range.
func parseHeader(s string) (typ, scope string, bang bool, desc string, ok bool) {
	i := 0
	for i < len(s) && (isLetter(s[i]) || i > 0 && (s[i] >= '0' && s[i] <= '9' || s[i] == '_' || s[i] == '-')) {
		i++
	}
	if i == 0 {
		return
	}
	typ = s[:i]
	if i < len(s) && s[i] == '(' {
		j := strings.IndexAny(s[i+1:], "()")
		if j < 0 || s[i+1+j] != ')' {
			return
		}
		scope = s[i+1 : i+1+j]
		i += j + 2
	}
	if i < len(s) && s[i] == '!' {
		bang = true
		i++
	}
	if i+1 >= len(s) || s[i] != ':' || s[i+1] != ' ' {
		return
	}
	desc = strings.TrimLeft(s[i+1:], " ")
	if desc == "" {
		return
	}
	return typ, scope, bang, desc, true
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

// closingRE finds GitLab/GitHub closing keywords followed by issue refs.
// Here and across the project a package-level regular expression is
// compiled on first use (sync.OnceValue): compiled at start-up, every run
// of the binary — `pipeline version`, a release plan — would pay for all of
// them.
var closingRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?|implement(?:s|ed)?)\b:?\s+((?:#\d+(?:\s*,\s*|\s+and\s+|\s+)?)+)`)
})
var footerRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|BREAKING CHANGE)(?:: | #)`)
})
var issueRefRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`#(\d+)`) })

// ParseConventional reads msg (a full commit message or an MR title).
// It never fails: a message that is not a Conventional Commit has OK false
// and its first line as Description.
func ParseConventional(msg string) Conventional {
	subject, body, _ := strings.Cut(msg, "\n")
	// Leading blanks too: " feat: x" is a feature (a real history has it).
	subject = strings.TrimSpace(subject)
	var c Conventional
	if typ, scope, bang, desc, ok := parseHeader(subject); ok {
		c.OK = true
		c.Type = strings.ToLower(typ)
		c.Scope = strings.TrimSpace(scope)
		c.Breaking = bang
		c.Description = strings.TrimSpace(desc)
	} else {
		c.Description = strings.TrimSpace(subject)
	}
	// Footers: a BREAKING CHANGE footer starts a line of the body and runs
	// to the next footer or blank line. We accept it in any paragraph, as
	// the tools teams use to write them do.
	lines := strings.Split(body, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		for _, tok := range []string{"BREAKING CHANGE:", "BREAKING-CHANGE:"} {
			rest, ok := strings.CutPrefix(line, tok)
			if !ok {
				continue
			}
			c.Breaking = true
			note := []string{strings.TrimSpace(rest)}
			for i+1 < len(lines) {
				next := strings.TrimRight(lines[i+1], "\r")
				if strings.TrimSpace(next) == "" || footerRE().MatchString(next) {
					break
				}
				note = append(note, strings.TrimSpace(next))
				i++
			}
			if c.BreakingNote == "" {
				c.BreakingNote = strings.TrimSpace(strings.Join(note, "\n"))
			}
		}
	}
	if strings.IndexByte(body, '#') < 0 {
		return c // no issue reference: skip the costly scan
	}
	for _, m := range closingRE().FindAllStringSubmatch(msg, -1) {
		for _, ref := range issueRefRE().FindAllStringSubmatch(m[1], -1) {
			if n, err := strconv.Atoi(ref[1]); err == nil && !containsInt(c.Closes, n) {
				c.Closes = append(c.Closes, n)
			}
		}
	}
	return c
}

// Kind is the group of the change: breaking first, then by type.
func (c Conventional) Kind() Kind {
	switch {
	case c.Breaking:
		return Breaking
	case !c.OK:
		return Other
	case c.Type == "feat" || c.Type == "feature":
		return Feature
	case c.Type == "fix":
		return Fix
	case c.Type == "perf":
		return Performance
	}
	return Other
}

func containsInt(s []int, n int) bool {
	for _, v := range s {
		if v == n {
			return true
		}
	}
	return false
}

// mergeRequestRE finds the MR a merge or squash commit came from:
// GitLab's "See merge request group/project!12", GitHub's
// "Merge pull request #12 from ..." and squash subjects ending "(#12)".
var (
	gitlabMergeRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^See merge request (?:\S+)?!(\d+)\s*$`) })
	githubMergeRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^Merge pull request #(\d+) from `) })
	githubSquashRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\(#(\d+)\)\s*$`) })
)

// MergeRequestNumber returns the MR/PR number the message names as its
// origin, or 0.
func MergeRequestNumber(msg string) int {
	subject, _, _ := strings.Cut(msg, "\n")
	subject = strings.TrimRight(subject, "\r \t")
	// Cheap tests first: this runs on every commit.
	if !strings.HasPrefix(subject, "Merge pull request #") && !strings.HasSuffix(subject, ")") && !strings.Contains(msg, "See merge request ") {
		return 0
	}
	for _, re := range []*regexp.Regexp{githubMergeRE(), githubSquashRE()} {
		if m := re.FindStringSubmatch(strings.TrimRight(subject, "\r")); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	if m := gitlabMergeRE().FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}
