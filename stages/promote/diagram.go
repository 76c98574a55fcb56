package promote

import (
	"fmt"
	"sort"
	"strings"
)

// SearchDiagram draws, as a Mermaid flowchart, how the culprit of a comment
// was found: master, the batch of staging's commits tested on it, each
// round of probes (the prefix of the batch each tested and its verdict),
// the culprit (or the suspects) and what was promoted. GitLab and GitHub
// render it in the comment, beside the text that says the same in words.
// "" when the comment has no probes to draw (a custom template's data, a
// report from before probes were kept).
func SearchDiagram(d CommentData) string {
	if len(d.Probes) == 0 {
		return ""
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, "  "+format+"\n", args...) }
	b.WriteString("flowchart TD\n")

	of := d.Probes[0].Of
	base := d.To
	if d.Culprit.FoundIn <= 1 && d.MasterBefore != "" {
		base += " " + short(d.MasterBefore)
	}
	line(`base["%s"]`, mmText(base))
	batch := d.Culprit.FoundIn
	if batch == 0 {
		batch = d.Probes[0].Batch
	}
	line(`batch["batch %d: %d commit(s) of %s"]`, batch, of, mmText(d.From))
	line("base --> batch")

	// Rounds in order, probes of a round side by side.
	rounds := map[int][]ProbeReport{}
	var order []int
	for _, p := range d.Probes {
		if _, seen := rounds[p.Round]; !seen {
			order = append(order, p.Round)
		}
		rounds[p.Round] = append(rounds[p.Round], p)
	}
	sort.Ints(order)
	prev := "batch"
	classes := map[string][]string{}
	for _, rd := range order {
		id := fmt.Sprintf("round%d", rd)
		line(`subgraph %s["round %d"]`, id, rd)
		for _, p := range rounds[rd] {
			pid := fmt.Sprintf("probe%d", p.N)
			tip := d.To + " alone"
			if p.Prefix > 0 {
				tip = "up to " + short(p.Head) + " " + p.Subject
			}
			line(`  %s["probe %d (%s): %s + %d of %d<br/>%s<br/>%s"]`, pid, p.N, p.Reason, mmText(d.To), p.Prefix, p.Of,
				mmText(clipText(tip, 60)), verdictText(p))
			classes[p.Verdict.String()] = append(classes[p.Verdict.String()], pid)
		}
		line("end")
		line("%s --> %s", prev, id)
		prev = id
	}

	if len(d.Suspects) > 0 {
		var names []string
		for _, s := range d.Suspects {
			names = append(names, mmText(short(s.SHA)+" "+clipText(s.Subject, 50)))
		}
		line(`culprit["suspects, one of which breaks %s:<br/>%s"]`, mmText(d.To), strings.Join(names, "<br/>"))
	} else {
		line(`culprit["culprit %s<br/>%s<br/>not promoted"]`, short(d.Culprit.SHA), mmText(clipText(d.Culprit.Subject, 60)))
	}
	line("%s --> culprit", prev)
	promoted := fmt.Sprintf("promoted to %s: the %d commit(s) before it", d.To, d.Promoted)
	if d.Promoted == 0 {
		promoted = "nothing before it to promote to " + d.To
	}
	line(`promoted["%s"]`, mmText(promoted))
	line("culprit --> promoted")
	if len(d.Blocked) > 0 {
		var names []string
		for _, c := range d.Blocked {
			names = append(names, mmText(short(c.SHA)+" "+clipText(c.Subject, 50)))
		}
		line(`blocked["not promoted either: they do not apply without it<br/>%s"]`, strings.Join(names, "<br/>"))
		line("culprit -.-> blocked")
		classes["blocked"] = append(classes["blocked"], "blocked")
	}
	classes["bad"] = append(classes["bad"], "culprit")
	classes["good"] = append(classes["good"], "promoted")

	// Colours that read on GitLab's and GitHub's light and dark themes.
	line("classDef good fill:#d4f7dc,stroke:#1a7f37,color:#0b3d1a")
	line("classDef bad fill:#ffd8d3,stroke:#cf222e,color:#5c0a0a")
	line("classDef skip fill:#eeeeee,stroke:#6e7781,color:#24292f")
	line("classDef unknown fill:#eeeeee,stroke:#6e7781,color:#24292f")
	line("classDef blocked fill:#fff1c2,stroke:#9a6700,color:#3d2a00")
	for _, c := range []string{"good", "bad", "skip", "unknown", "blocked"} {
		if ids := classes[c]; len(ids) > 0 {
			line("class %s %s", strings.Join(ids, ","), c)
		}
	}
	return b.String()
}

// verdictText is a probe's verdict in words, with its exit status.
func verdictText(p ProbeReport) string {
	switch p.Verdict {
	case Good:
		return "✔ good"
	case Bad:
		return fmt.Sprintf("✘ bad (exit %d)", p.ExitCode)
	case Skip:
		return "untestable (exit 125)"
	}
	if p.Error != "" {
		return "no verdict: the test could not run"
	}
	return "no verdict"
}

// mmText makes s safe inside a quoted Mermaid label: the characters that
// end the label, start markup or a Markdown string, or close the comment's
// code fence become Mermaid's entity codes, and a line break a space.
func mmText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString("#quot;")
		case '#':
			b.WriteString("#35;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '&':
			b.WriteString("#amp;")
		case '`':
			b.WriteString("#96;")
		case '\n', '\r', '\t':
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clipText cuts s to n runes, with "…" when cut.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
