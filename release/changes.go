package release

import (
	"strconv"
	"strings"
	"time"
)

// MergeRequest is a merged MR (GitHub: pull request) as the forge reports
// it, with the issues it closed.
type MergeRequest struct {
	Number    int       `json:"number"`
	Title     string    `json:"title"`
	Labels    []string  `json:"labels,omitempty"`
	URL       string    `json:"url,omitempty"`
	MergeSHA  string    `json:"-"`
	SquashSHA string    `json:"-"`
	HeadSHA   string    `json:"-"`
	MergedAt  time.Time `json:"-"`
	Closes    []Issue   `json:"-"`
	// Description is the MR's description: an override block in it
	// replaces the message the MR was merged with.
	Description string `json:"-"`
}

// Issue is a forge issue named in the notes.
type Issue struct {
	Number int    `json:"number"`
	Title  string `json:"title,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Change is one line of the notes: a commit on the branch, or a merge of
// an MR standing for the commits it brought.
type Change struct {
	Kind Kind `json:"kind"`
	Bump Bump `json:"bump"`
	// Type is the Conventional Commit type ("" when the message is not
	// one); it picks the notes' section.
	Type        string `json:"type,omitempty"`
	Scope       string `json:"scope,omitempty"`
	Description string `json:"description"`
	// Commit is the commit on the branch (the merge or squash commit for
	// an MR); Commits is how many commits the change stands for.
	Commit  string `json:"commit"`
	Commits int    `json:"commits"`
	// Conventional is false when neither the message nor the MR title is
	// a Conventional Commit: the change is counted as "other", not dropped.
	Conventional bool          `json:"conventional"`
	BreakingNote string        `json:"breaking_note,omitempty"`
	MergeRequest *MergeRequest `json:"merge_request,omitempty"`
	Issues       []Issue       `json:"issues,omitempty"`
	CommitURL    string        `json:"commit_url,omitempty"`
	// Reason says what decided Kind ("label feature on !12").
	Reason string `json:"-"`
	// Release marks our own release commit (or the merge of the release
	// MR): it is not a change of the next release.
	Release bool `json:"-"`
	// Override is set when the message came from the override block of
	// the MR's description.
	Override bool `json:"override,omitempty"`

	revert   *Revert  // what the change reverts, if it is a revert
	shas     []string // the commits it stands for (and those they were picked from)
	inner    []string // the commits of a merge of several: a revert of one is a change of its own
	subjects []string // its subjects, forge suffix dropped, for quoted reverts
	mrRef    string   // "!12"
}

// Short is the abbreviated commit id.
func (c Change) Short() string {
	if len(c.Commit) > 8 {
		return c.Commit[:8]
	}
	return c.Commit
}

// Links builds forge URLs. An empty format gives no link.
type Links struct {
	MergeRequest string // printf format with %d
	Issue        string // %d
	Commit       string // %s
	Compare      string // %s...%s (previous tag, new tag)
	// MRRef and IssueRef are how a reference reads: "!%d" on GitLab,
	// "#%d" on GitHub.
	MRRef    string
	IssueRef string
}

// Labels maps MR labels to the kind of change they mark; matching is
// case-insensitive.
type Labels map[string]Kind

// Kind returns the strongest kind the labels name, and the label.
func (l Labels) Kind(labels []string) (Kind, string, bool) {
	best, name, found := Other, "", false
	for _, lb := range labels {
		if k, ok := l[strings.ToLower(lb)]; ok && (!found || k < best) {
			best, name, found = k, lb, true
		}
	}
	return best, name, found
}

// DefaultLabels is the label mapping when the config gives none.
func DefaultLabels() Labels {
	return Labels{
		"breaking": Breaking, "breaking change": Breaking, "breaking-change": Breaking,
		"feature": Feature, "enhancement": Feature,
		"bug": Fix, "fix": Fix, "bugfix": Fix,
		"performance": Performance, "perf": Performance,
	}
}

// ChangesInput is a range of history and what the forge knows about it.
type ChangesInput struct {
	// Commits of the range, newest first (git log order), with parents.
	Commits []Commit
	// Head is where the range ends (the newest commit).
	Head string
	// MergeRequests merged into the branch; matched to commits by merge,
	// squash or head sha, or by the number a merge message names.
	MergeRequests []MergeRequest
	Labels        Labels
	Links         Links
	// Policy weighs and lists the changes; nil is DefaultPolicy.
	Policy *Policy
}

// Changes turns a range of history into changes, newest first. The
// branch's own line of history (first parents from Head) gives one change
// per commit; a merge commit stands for the commits it brought in, and its
// kind is the strongest of its MR's title, labels and those commits. Every
// commit of the range is accounted for in exactly one change, except that
// a change and its revert both leave (see cancelReverts), and an MR whose
// description holds an override block gives one change per message in it.
func Changes(in ChangesInput) []Change {
	kept, _ := ChangesAndReverts(in)
	return kept
}

// ChangesAndReverts is Changes, with the changes that left the range
// because they were reverted in it (and their reverts) as well.
func ChangesAndReverts(in ChangesInput) (kept, reverted []Change) {
	if in.Policy == nil {
		in.Policy = DefaultPolicy()
	}
	byID := make(map[string]int, len(in.Commits))
	for i, c := range in.Commits {
		byID[c.SHA] = i
	}
	mrBySHA := map[string]*MergeRequest{}
	mrByNumber := map[int]*MergeRequest{}
	for i := range in.MergeRequests {
		mr := &in.MergeRequests[i]
		for _, s := range []string{mr.MergeSHA, mr.SquashSHA, mr.HeadSHA} {
			if s != "" {
				if _, taken := mrBySHA[s]; !taken {
					mrBySHA[s] = mr
				}
			}
		}
		mrByNumber[mr.Number] = mr
	}

	// The branch's first-parent line, newest first.
	claimed := make([]bool, len(in.Commits))
	var mainline []int
	for sha := in.Head; ; {
		i, ok := byID[sha]
		if !ok || claimed[i] {
			break
		}
		claimed[i] = true
		mainline = append(mainline, i)
		if len(in.Commits[i].Parents) == 0 {
			break
		}
		sha = in.Commits[i].Parents[0]
	}
	// Members of each merge: walk its other parents, oldest merge first so
	// that a commit brought in twice belongs to the merge that brought it.
	members := make(map[int][]int)
	for k := len(mainline) - 1; k >= 0; k-- {
		m := mainline[k]
		c := in.Commits[m]
		if !c.IsMerge() {
			continue
		}
		stack := append([]string(nil), c.Parents[1:]...)
		for len(stack) > 0 {
			sha := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			i, ok := byID[sha]
			if !ok || claimed[i] {
				continue
			}
			claimed[i] = true
			members[m] = append(members[m], i)
			stack = append(stack, in.Commits[i].Parents...)
		}
	}
	// Anything not reached (a range given without its head, say) is still
	// listed on its own, never dropped.
	for i := range in.Commits {
		if !claimed[i] {
			mainline = append(mainline, i)
		}
	}
	// Keep git's order (newest first) for the standalone ones too.
	out := make([]Change, 0, len(mainline))
	for _, i := range mainline {
		out = in.appendChange(out, in.Commits[i], members[i], mrBySHA, mrByNumber)
	}
	return cancelReverts(out, in.Policy.RevertReleased)
}

// appendChange appends the change(s) of commit c: one, or one per message
// of its MR's override block.
func (in ChangesInput) appendChange(out []Change, c Commit, members []int, bySHA map[string]*MergeRequest, byNumber map[int]*MergeRequest) []Change {
	ch := in.change(c, members, bySHA, byNumber)
	if ch.MergeRequest == nil || ch.Release {
		return append(out, ch)
	}
	msgs, ok := ParseOverride(ch.MergeRequest.Description)
	if !ok {
		return append(out, ch)
	}
	for k, msg := range msgs {
		o := ch
		cc := ParseConventional(msg)
		o.Kind, o.Conventional, o.Type = cc.Kind(), cc.OK, cc.Type
		o.Scope, o.Description, o.BreakingNote = cc.Scope, cc.Description, cc.BreakingNote
		var rule string
		o.Bump, rule = in.Policy.bump(cc)
		o.Description = dropOwnRef(o.Description, ch.MergeRequest.Number)
		o.Override, o.revert = true, nil
		o.Reason = "the override block of MR " + ch.mrRef
		if rule != "" {
			o.Reason += " by " + rule
		}
		if k > 0 {
			o.Commits = 0 // the commits are counted once
		}
		out = append(out, o)
	}
	return out
}

func (in ChangesInput) change(c Commit, members []int, bySHA map[string]*MergeRequest, byNumber map[int]*MergeRequest) Change {
	mr := bySHA[c.SHA]
	if mr == nil {
		if n := MergeRequestNumber(c.Message); n > 0 {
			mr = byNumber[n]
			if mr == nil {
				mr = &MergeRequest{Number: n}
			}
		}
	}
	ch := Change{Commit: c.SHA, Commits: 1 + len(members)}
	if in.Links.Commit != "" {
		ch.CommitURL = sprintf(in.Links.Commit, c.SHA)
	}

	// What the change says about itself: the commit message, or for a
	// merge the MR title (from the forge, else from the merge message).
	msg := c.Message
	if c.IsMerge() {
		msg = mergeTitle(c.Message)
	}
	if mr != nil && mr.Title != "" {
		if c.IsMerge() {
			msg = mr.Title
		} else {
			// A squash commit: the MR title decides, and the message's
			// footers (BREAKING CHANGE) still count.
			_, body, _ := strings.Cut(c.Message, "\n")
			msg = mr.Title + "\n" + body
		}
	}
	_, ch.Release = ReadJournal(msg)
	cc := c.conventional(msg)
	ch.Kind, ch.Conventional, ch.Type = cc.Kind(), cc.OK, cc.Type
	ch.Scope, ch.Description, ch.BreakingNote = cc.Scope, cc.Description, cc.BreakingNote
	var rule string
	ch.Bump, rule = in.Policy.bump(cc)
	ch.Reason = "commit " + c.Short()
	if mr != nil {
		ch.mrRef = sprintf(orDefault(in.Links.MRRef, "!%d"), mr.Number)
		ch.Reason = "MR " + ch.mrRef + " title"
	}
	if rule != "" {
		ch.Reason += " by " + rule
	}
	if !cc.OK && !c.IsMerge() {
		// A squash commit whose MR title is plain: its own message may
		// still be conventional.
		if own := c.conventional(c.Message); own.OK && mr != nil {
			ch.Kind, ch.Conventional, ch.Scope, ch.Type = own.Kind(), true, own.Scope, own.Type
			ch.Bump, rule = in.Policy.bump(own)
			ch.Reason = "commit " + c.Short()
			if rule != "" {
				ch.Reason += " by " + rule
			}
		}
	}
	if mr != nil {
		if k, name, ok := in.Labels.Kind(mr.Labels); ok && (k < ch.Kind || BumpOf(k) > ch.Bump) {
			if k < ch.Kind {
				ch.Kind = k
				ch.Conventional = true
				if ch.Type == "" {
					ch.Type = kindType[k]
				}
			}
			ch.Bump = max(ch.Bump, BumpOf(k))
			ch.Reason = "label " + name + " on " + ch.mrRef
		}
	}
	for _, i := range members {
		mc := in.Commits[i].conventional(in.Commits[i].Message)
		if !mc.OK {
			continue
		}
		mb, _ := in.Policy.bump(mc)
		if k := mc.Kind(); k < ch.Kind || mb > ch.Bump {
			if k < ch.Kind {
				ch.Kind = k
				ch.Conventional = true
				if ch.Type == "" || k == Breaking {
					ch.Type = mc.Type
				}
			}
			ch.Bump = max(ch.Bump, mb)
			ch.Reason = "commit " + in.Commits[i].Short() + " in the merge"
			if mc.BreakingNote != "" && ch.BreakingNote == "" {
				ch.BreakingNote = mc.BreakingNote
			}
		}
		for _, n := range mc.Closes {
			cc.Closes = appendUniqueInt(cc.Closes, n)
		}
	}
	in.revertFacts(&ch, c, msg, members)
	if mr != nil {
		ch.Description = dropOwnRef(ch.Description, mr.Number)
	}

	// Issues: those the forge says the MR closed, then closing keywords.
	seen := map[int]bool{}
	if mr != nil {
		m := *mr
		if m.URL == "" && in.Links.MergeRequest != "" {
			m.URL = sprintf(in.Links.MergeRequest, m.Number)
		}
		ch.MergeRequest = &m
		for _, is := range mr.Closes {
			if !seen[is.Number] {
				seen[is.Number] = true
				ch.Issues = append(ch.Issues, in.issue(is))
			}
		}
	}
	for _, n := range cc.Closes {
		if !seen[n] {
			seen[n] = true
			ch.Issues = append(ch.Issues, in.issue(Issue{Number: n}))
		}
	}
	return ch
}

// revertFacts records what cancelReverts needs: whether the change is a
// revert (its own message first, then the title it was merged with), the
// commits it stands for and its subjects.
func (in ChangesInput) revertFacts(ch *Change, c Commit, msg string, members []int) {
	ch.shas = append(ch.shas, c.SHA)
	if p := cherryPicked(c.Message); p != "" {
		ch.shas = append(ch.shas, p)
	}
	if len(members) == 1 {
		// A merge of one commit stands for it; reverting one commit of a
		// larger merge does not undo the whole MR.
		ch.shas = append(ch.shas, in.Commits[members[0]].SHA)
	} else {
		for _, i := range members {
			ch.inner = append(ch.inner, in.Commits[i].SHA)
		}
	}
	subj, _, _ := strings.Cut(msg, "\n")
	ch.subjects = append(ch.subjects, NormalizeSubject(subj))
	if own := NormalizeSubject(c.Subject()); own != ch.subjects[0] {
		ch.subjects = append(ch.subjects, own)
	}
	rv, ok := ParseRevert(c.Message)
	if !ok && c.IsMerge() && len(members) == 1 {
		// A merged revert branch: the revert commit it brought.
		rv, ok = ParseRevert(in.Commits[members[0]].Message)
	}
	if t, tok := ParseRevert(msg); tok && (!ok || rv.Subject == "") {
		if !ok {
			rv = t
		} else {
			rv.Subject = t.Subject
		}
		ok = true
	}
	if ok {
		ch.revert = &rv
	}
}

func (in ChangesInput) issue(is Issue) Issue {
	if is.URL == "" && in.Links.Issue != "" {
		is.URL = sprintf(in.Links.Issue, is.Number)
	}
	return is
}

// mergeTitle returns the title a merge commit message carries: GitLab and
// GitHub put the MR title in the paragraph after "Merge branch …" /
// "Merge pull request …". Without one, the subject itself.
func mergeTitle(msg string) string {
	subject, body, _ := strings.Cut(msg, "\n")
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "See merge request ") || strings.HasPrefix(line, "# ") {
			break
		}
		rest := body[strings.Index(body, line)+len(line):]
		return line + rest
	}
	return subject
}

func appendUniqueInt(s []int, n int) []int {
	if containsInt(s, n) {
		return s
	}
	return append(s, n)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// dropOwnRef drops the " (#12)" (GitHub's squash subject) or " (!12)" that
// ends a description when it names the change's own MR: the notes and the
// plan name the MR once, in the project's form (!12 on GitLab).
func dropOwnRef(desc string, mr int) string {
	n := strconv.Itoa(mr)
	for _, suf := range []string{" (#" + n + ")", " (!" + n + ")"} {
		if d, ok := strings.CutSuffix(strings.TrimRight(desc, " "), suf); ok {
			return d
		}
	}
	return desc
}
