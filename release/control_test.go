package release

import (
	"strings"
	"testing"
)

func TestStripControl(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, ünïcode ✨":                                 "plain text, ünïcode ✨",
		"\x1b[31mred\x1b[0m fix":                                "red fix",
		"\x1b[1;38;5;196mbold\x1b[m":                            "bold",
		"\x1b]0;owned title\x07subject":                         "subject",
		"\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\": "click",
		"a\x1b(Bb":                            "ab",
		"bell\x07 back\bspace\r\n":            "bell backspace\n",
		"tab\tand\nnewline":                   "tab\tand\nnewline",
		"c1 \u009b31m csi":                    "c1 31m csi",
		"bidi \u202eevil\u202c \u2066x\u2069": "bidi evil x",
		"trailing escape \x1b":                "trailing escape ",
		"unterminated \x1b]0;title\nnext":     "unterminated \nnext",
		"bad utf8 \xff ok":                    "bad utf8 \xff ok",
	} {
		if got := StripControl(in); got != want {
			t.Errorf("StripControl(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNotesHaveNoEscapes: a commit subject and an MR title carrying ANSI
// escapes reach the changelog entry, the notes and the MR body as plain
// text.
func TestNotesHaveNoEscapes(t *testing.T) {
	commits := []Commit{
		{SHA: strings.Repeat("a", 40), Message: "feat: \x1b[31mred\x1b[0m login\x1b]0;pwned\x07"},
		{SHA: strings.Repeat("b", 40), Message: "fix: ok"},
	}
	in := ChangesInput{Commits: commits, MergeRequests: []MergeRequest{{Number: 3, Title: "fix: \x1b[2Jcleared screen", MergeSHA: strings.Repeat("b", 40)}}}
	n := NewNotes(&Plan{Version: "1.1.0", Tag: "v1.1.0", Changes: Changes(in)}, "2026-12-03", Links{}, nil)
	var tm Templates
	for name, render := range map[string]func(*Notes) (string, error){
		"notes": tm.RenderNotes, "changelog entry": tm.RenderChangelogEntry, "MR body": tm.RenderMRBody,
	} {
		out, err := render(n)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("%s holds a control character:\n%q", name, out)
		}
		if name != "MR body" && (!strings.Contains(out, "red login") || !strings.Contains(out, "cleared screen")) {
			t.Errorf("%s lost the text around the escapes:\n%s", name, out)
		}
	}
}
