package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// maxProblems caps how many problems one error lists: past that, the rest
// are counted, not shown (a wrongly indented file can give hundreds).
const maxProblems = 20

// Problem is one thing wrong in the file, at a position (Line and Col are
// 1-based; 0 when the problem is about the whole file).
type Problem struct {
	Line, Col int
	// Path is the dotted path of the value (build.components[1].command);
	// empty for problems of the file itself (syntax, empty file).
	Path string
	Msg  string
}

// Error is every problem found in one file. Its message has one line per
// problem, each starting with file:line:col (or file: for the whole file).
type Error struct {
	File     string
	Problems []Problem
	// More counts the problems left out of Problems (see maxProblems).
	More int
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", p.Line, p.Col)
		}
		b.WriteString(": ")
		if p.Path != "" {
			b.WriteString(oneLine.Replace(p.Path))
			b.WriteString(": ")
		}
		b.WriteString(oneLine.Replace(p.Msg))
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n%s: … and %d more problem%s", e.File, e.More, plural(e.More))
	}
	return b.String()
}

// newError sorts problems by position, drops exact repeats (a value reached
// twice through a YAML alias) and caps the list.
func newError(file string, probs []Problem) *Error {
	sort.SliceStable(probs, func(i, j int) bool {
		a, b := probs[i], probs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return a.Path+a.Msg < b.Path+b.Msg
	})
	out := probs[:0]
	for i, p := range probs {
		if i > 0 && p == probs[i-1] {
			continue
		}
		out = append(out, p)
	}
	e := &Error{File: file, Problems: out}
	if len(out) > maxProblems {
		e.More = len(out) - maxProblems
		e.Problems = out[:maxProblems]
	}
	return e
}

// oneLine keeps a problem on its line whatever the file's keys and tags
// hold: one line per problem is what editors and CI logs parse.
var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`, "\u0085", `\u0085`, "\u2028", `\u2028`, "\u2029", `\u2029`)

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// plainKey is a key shown as is in a path; any other is quoted:
// labels["owner/repo"].
var plainKey = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if !plainKey().MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	return joinRel(path, key)
}

// joinRel appends a relative path (a Validator's "components[1].command").
func joinRel(path, rel string) string {
	if path == "" || rel == "" || rel[0] == '[' {
		return path + rel
	}
	return path + "." + rel
}

func fmtIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func hasPrefix(s, p string) bool { return strings.HasPrefix(s, p) }

// suggest returns the known word closest to s when it is close enough to be
// a typo ("comand" → "command", "buidl" → "build"), else "".
func suggest(s string, known []string) string {
	best, _ := suggestDist(s, known)
	return best
}

// suggestDist is suggest with the edit distance of the suggestion.
func suggestDist(s string, known []string) (string, int) {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, k := range known {
		d := editDistance(ls, strings.ToLower(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	limit := 1 + len(s)/4
	if limit > 3 {
		limit = 3
	}
	if best != "" && bestD <= limit {
		return best, bestD
	}
	return "", 0
}

// editDistance is the optimal-string-alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// list renders known words for a message, cut after max.
func list(words []string, max int) string {
	if len(words) > max {
		return strings.Join(words[:max], ", ") + ", …"
	}
	return strings.Join(words, ", ")
}
