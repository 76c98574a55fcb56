package integration

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pipeline-ci/pipeline/runners"
)

// LogSpec says which logs to scan and what counts as a problem.
type LogSpec struct {
	// Files are paths or shell globs on the target.
	Files []string
	// Journal scans the systemd journal where systemd runs.
	Journal bool
	// Patterns mark a line as a problem; Allow un-marks known noise.
	Patterns []*regexp.Regexp
	Allow    []*regexp.Regexp
	// Context is how many lines before and after a hit are kept.
	Context int
}

// LogMark is where each log ended when provisioning began.
type LogMark struct {
	Time    int64            // target's clock, unix seconds
	Offsets map[string]int64 // file → size then
	// Lines is file → how many lines it had then (complete ones: a hit's
	// SOURCE:LINE counts from the file's first line, as an editor does).
	Lines map[string]int
}

// LogMarkScript prints the target's time and, for every log file, its
// size and the lines in that many bytes (one size for both, so a line
// written in between cannot shift the numbers).
func LogMarkScript(spec LogSpec) string {
	var b strings.Builder
	b.WriteString("date +%s\n")
	for _, f := range spec.Files {
		// The glob is left unquoted on purpose, so the shell expands it.
		fmt.Fprintf(&b, "for f in %s; do [ -f \"$f\" ] && s=$(wc -c < \"$f\") && printf '%%s\\t%%s\\t%%s\\n' \"$f\" $s \"$(head -c $s \"$f\" | wc -l)\"; done\n", globQuote(f))
	}
	b.WriteString("true\n")
	return b.String()
}

// ParseLogMark reads LogMarkScript's output.
func ParseLogMark(out string) LogMark {
	m := LogMark{Offsets: map[string]int64{}, Lines: map[string]int{}}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 0 {
		m.Time, _ = strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		if len(f) < 2 {
			continue
		}
		m.Offsets[f[0]], _ = strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
		if len(f) > 2 {
			m.Lines[f[0]], _ = strconv.Atoi(strings.TrimSpace(f[2]))
		}
	}
	return m
}

// LogCollectScript prints what each log gained since mark, each under a
// "### log SOURCE" header.
func LogCollectScript(spec LogSpec, mark LogMark) string {
	var b strings.Builder
	if spec.Journal && mark.Time > 0 {
		fmt.Fprintf(&b, "if [ -d /run/systemd/system ] && command -v journalctl >/dev/null 2>&1; then echo '### log journal'; journalctl --since @%d --no-pager -q -o short-iso 2>&1; fi\n", mark.Time)
	}
	for _, f := range spec.Files {
		b.WriteString("for f in " + globQuote(f) + "; do [ -f \"$f\" ] || continue; echo \"### log $f\"; case \"$f\" in\n")
		var known []string
		for p := range mark.Offsets {
			known = append(known, p)
		}
		sort.Strings(known)
		for _, p := range known {
			fmt.Fprintf(&b, "  %s) tail -c +%d \"$f\";;\n", runners.Quote(p), mark.Offsets[p]+1)
		}
		b.WriteString("  *) cat \"$f\";;\nesac; echo; done\n")
	}
	b.WriteString("true\n")
	return b.String()
}

// globQuote quotes a glob for the shell but leaves * ? [ ] active.
func globQuote(g string) string {
	var b strings.Builder
	for _, r := range g {
		if strings.ContainsRune("*?[]", r) {
			b.WriteRune(r)
		} else {
			b.WriteString(runners.Quote(string(r)))
		}
	}
	return b.String()
}

// ParseLogCollect splits LogCollectScript's output by source.
func ParseLogCollect(out string) map[string]string {
	logs := map[string]string{}
	src := ""
	var cur strings.Builder
	flush := func() {
		if src != "" {
			logs[src] += cur.String()
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if strings.HasPrefix(line, "### log ") {
			flush()
			src = strings.TrimSpace(strings.TrimPrefix(line, "### log "))
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return logs
}

// LogHit is one line that matched a pattern and no allow rule.
type LogHit struct {
	Source  string   `json:"source"`
	Line    int      `json:"line"` // 1-based, from the file's first line (the journal's: from the mark)
	Text    string   `json:"text"`
	Pattern string   `json:"pattern"`
	Context []string `json:"context,omitempty"`
}

// ScanLogs finds the problem lines in logs (what each source gained since
// mark), sorted by source and line.
func ScanLogs(logs map[string]string, spec LogSpec, mark LogMark) []LogHit {
	var hits []LogHit
	sources := make([]string, 0, len(logs))
	for s := range logs {
		sources = append(sources, s)
	}
	sort.Strings(sources)
	for _, src := range sources {
		lines := strings.Split(strings.TrimRight(logs[src], "\n"), "\n")
	line:
		for i, l := range lines {
			var hit *regexp.Regexp
			for _, p := range spec.Patterns {
				if p.MatchString(l) {
					hit = p
					break
				}
			}
			if hit == nil {
				continue
			}
			for _, a := range spec.Allow {
				if a.MatchString(l) {
					continue line
				}
			}
			lo, hi := i-spec.Context, i+spec.Context+1
			if lo < 0 {
				lo = 0
			}
			if hi > len(lines) {
				hi = len(lines)
			}
			hits = append(hits, LogHit{Source: src, Line: mark.Lines[src] + i + 1, Text: l, Pattern: hit.String(),
				Context: append([]string(nil), lines[lo:hi]...)})
		}
	}
	return hits
}
