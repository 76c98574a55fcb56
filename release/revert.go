package release

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Revert is what a revert commit names as the change it undoes.
type Revert struct {
	// SHA is from git's own line "This reverts commit <sha>." (also in the
	// form "This reverts <sha>."); it is looked up first.
	SHA string
	// Subject is the quoted subject of `Revert "<subject>"` (the forge's
	// " (#N)" / " (!N)" after the closing quote dropped); it is used when
	// SHA is empty or not in the range.
	Subject string
}

var (
	revertLineRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?m)^\s*This reverts (?:commit )?([0-9a-f]{7,64})\b`)
	})
	cherryLineRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?m)^\(cherry picked from commit ([0-9a-f]{7,64})\)\s*$`)
	})
)

// ParseRevert reads msg (a commit message or an MR title with the
// message's body) as a revert. ok is false for any other message.
func ParseRevert(msg string) (Revert, bool) {
	subject, body, _ := strings.Cut(msg, "\n")
	subject = strings.TrimSpace(subject)
	var r Revert
	if strings.Contains(body, "This reverts ") {
		if m := revertLineRE().FindStringSubmatch(body); m != nil {
			r.SHA = m[1]
		}
	}
	if s, ok := quotedRevert(subject); ok {
		r.Subject = s
	}
	return r, r.SHA != "" || r.Subject != ""
}

// quotedRevert returns the subject inside `Revert "…"`, the text between
// the first and the last double quote, so a nested `Revert "Revert "x""`
// gives `Revert "x"`.
func quotedRevert(subject string) (string, bool) {
	if !strings.HasPrefix(subject, `Revert "`) {
		return "", false
	}
	rest := NormalizeSubject(subject)[len(`Revert "`):]
	end := strings.LastIndexByte(rest, '"')
	if end <= 0 {
		return "", false
	}
	return NormalizeSubject(rest[:end]), true
}

// NormalizeSubject drops a forge's " (#N)" / " (!N)" from the end of a
// subject, so a squash commit's subject and the quoted one in its revert
// compare equal.
// Written out by hand: it runs on every change of a range.
func NormalizeSubject(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasSuffix(s, ")") {
		return s
	}
	open := strings.LastIndex(s, " (")
	if open < 0 || len(s)-open < 5 || (s[open+2] != '#' && s[open+2] != '!') {
		return s
	}
	for _, b := range []byte(s[open+3 : len(s)-1]) {
		if b < '0' || b > '9' {
			return s
		}
	}
	return strings.TrimSpace(s[:open])
}

// cherryPicked returns the commit `git cherry-pick -x` names in msg, or "":
// promote copies staging's commits onto master this way, and a revert made
// on staging names the staging commit.
func cherryPicked(msg string) string {
	if !strings.Contains(msg, "(cherry picked from commit ") {
		return ""
	}
	if m := cherryLineRE().FindAllStringSubmatch(msg, -1); m != nil {
		return m[len(m)-1][1]
	}
	return ""
}

// cancelReverts applies the reverts of changes (newest first, as Changes
// returns them): a change and its revert in the range both leave; a revert
// of a revert brings the change back; a revert of a change released before
// the range stays as one change asking for releasedBump. It returns the
// changes kept and those that left.
//
// Each revert toggles whether its root (the first change of its chain) is
// applied; a root in the range starts applied, one already released
// starts applied too, and only the final state counts.
func cancelReverts(changes []Change, releasedBump Bump) (kept, dropped []Change) {
	any := false
	for i := range changes {
		if changes[i].revert != nil {
			any = true
			break
		}
	}
	if !any {
		return changes, nil
	}
	// Where a sha is in the range: the change's commit, the commits it
	// stands for, and the commits they were cherry-picked from.
	bySHA := map[string]int{}
	for i, c := range changes {
		for _, s := range c.shas {
			if _, taken := bySHA[s]; !taken {
				bySHA[s] = i
			}
		}
	}
	lookupSHA := func(sha string) (int, bool) {
		if i, ok := bySHA[sha]; ok {
			return i, true
		}
		if len(sha) < 40 { // an abbreviated id
			for s, i := range bySHA {
				if strings.HasPrefix(s, sha) {
					return i, true
				}
			}
		}
		return 0, false
	}
	inner := map[string]bool{}
	for _, c := range changes {
		for _, s := range c.inner {
			inner[s] = true
		}
	}
	applied := map[string]bool{}
	rootOf := map[int]string{}
	lastRevert := map[string]int{}
	hide := make([]bool, len(changes))
	targeted := make([]bool, len(changes))   // each change is undone by one revert
	for i := len(changes) - 1; i >= 0; i-- { // oldest first
		rv := changes[i].revert
		if rv == nil {
			continue
		}
		if inner[rv.SHA] {
			// Part of a merge in the range: the revert is an ordinary
			// change (its own type decides), the merge stays.
			changes[i].Type = "revert"
			continue
		}
		target := -1
		if j, ok := lookupSHA(rv.SHA); ok && rv.SHA != "" && j > i && !targeted[j] {
			target = j
		}
		if target < 0 && rv.Subject != "" {
			for j := i + 1; j < len(changes); j++ { // the nearest older one
				if !targeted[j] && changes[j].hasSubject(rv.Subject) {
					target = j
					break
				}
			}
		}
		var key string
		switch {
		case target >= 0:
			targeted[target] = true
			k, ok := rootOf[target]
			if !ok {
				k = "c" + strconv.Itoa(target)
				rootOf[target], applied[k] = k, true
			}
			key = k
		case rv.SHA != "":
			key = "x" + rv.SHA
		default:
			key = "s" + rv.Subject
		}
		if _, ok := applied[key]; !ok {
			applied[key] = true // released before the range
		}
		applied[key] = !applied[key]
		rootOf[i], lastRevert[key] = key, i
		hide[i] = true
	}
	for key, on := range applied {
		if key[0] == 'c' {
			root, _ := strconv.Atoi(key[1:])
			hide[root] = !on
			continue
		}
		if !on {
			// A released change no longer in the code: what shipped changes.
			i := lastRevert[key]
			hide[i] = false
			c := &changes[i]
			c.Bump, c.Type = releasedBump, "revert"
			c.Reason = "commit " + c.Short() + " reverts a released change"
			if c.MergeRequest != nil {
				c.Reason = "MR " + c.mrRef + " reverts a released change"
			}
		}
	}
	kept = changes[:0:0]
	for i, c := range changes {
		if hide[i] {
			dropped = append(dropped, c)
		} else {
			kept = append(kept, c)
		}
	}
	return kept, dropped
}

func (c *Change) hasSubject(s string) bool {
	for _, x := range c.subjects {
		if x == s {
			return true
		}
	}
	return false
}
