package promote

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipeline-ci/pipeline/internal/testutil"
)

// mermaidDir is the prefix scripts/deps/mermaid.sh installs mermaid into.
const mermaidDir = "/var/tmp/pipeline-tools/mermaid-11.17.2"

// needMermaid returns the node program and the prefix holding mermaid and
// jsdom. When either is missing the test fails under CI (CI=true: the
// install script should have put them there) and is skipped, saying what
// was not checked, elsewhere.
func needMermaid(t *testing.T) (node, dir string) {
	t.Helper()
	dir = mermaidDir
	if d := os.Getenv("MERMAID_DIR"); d != "" {
		dir = d
	}
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "mermaid", "package.json"))
	}
	if err == nil {
		return node, dir
	}
	testutil.NotChecked(t, "mermaid (node, and mermaid in "+dir+") is not installed, so the diagrams were not parsed: run scripts/deps/mermaid.sh ("+err.Error()+")")
	return "", ""
}

// parseMermaid parses each diagram with mermaid's own parser
// (scripts/mermaid-check.mjs) and returns "" or the parser's error, per
// diagram, and the diagram type it recognised.
func parseMermaid(t *testing.T, diagrams []string) (errors, types []string) {
	t.Helper()
	node, dir := needMermaid(t)
	in, _ := json.Marshal(diagrams)
	cmd := exec.Command(node, filepath.Join("..", "..", "scripts", "mermaid-check.mjs"))
	cmd.Env = append(os.Environ(), "MERMAID_DIR="+dir)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mermaid-check: %v\n%s", err, stderr.String())
	}
	var res []struct {
		OK    bool   `json:"ok"`
		Type  string `json:"type"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(diagrams) {
		t.Fatalf("mermaid-check answered %q (%v)", out, err)
	}
	for _, r := range res {
		errors, types = append(errors, r.Error), append(types, r.Type)
	}
	return errors, types
}

// diagramCases are culprit comments' data: the one of the golden file, a
// group of suspects with untestable probes and parallel probes in a round,
// and subjects written to break a naive diagram.
func diagramCases() map[string]CommentData {
	sha := func(c string) string { return strings.Repeat(c, 40) }
	probe := func(n, round, prefix int, head, subject string, v Verdict) ProbeReport {
		return ProbeReport{N: n, Round: round, Batch: 1, Prefix: prefix, Of: 4, Reason: ReasonSearch, Head: head, Subject: subject, Verdict: v, ExitCode: map[Verdict]int{Bad: 1, Skip: 125}[v]}
	}
	hostile := []string{
		`fix "quoted" <b>html</b> & stuff`,
		"end",
		"``` close the fence",
		"a]b[c{d}e(f)g|h;i%%j#k:l",
		"subgraph x; end; click a call alert()",
		"ünïcødé ✓ and a\nnewline",
		strings.Repeat("long subject ", 20),
	}
	out := map[string]CommentData{
		"culprit": {Culprit: CandidateReport{Candidate: Candidate{SHA: sha("b"), Subject: "switch to chrony | ntp"}, State: Culprit, FoundIn: 1},
			From: "staging", To: "master", MasterBefore: sha("0"), Promoted: 1,
			Blocked: []CandidateReport{{Candidate: Candidate{SHA: sha("c"), Subject: "tune chrony"}}},
			Probes: []ProbeReport{probe(1, 1, 4, sha("d"), "last", Bad), probe(2, 2, 2, sha("b"), "switch to chrony | ntp", Bad),
				probe(3, 3, 1, sha("a"), "add ntp", Good)}},
		"suspects, parallel probes": {Culprit: CandidateReport{Candidate: Candidate{SHA: sha("c"), Subject: "c"}, State: Suspect, FoundIn: 2},
			Suspects: []CandidateReport{{Candidate: Candidate{SHA: sha("b"), Subject: "b"}}, {Candidate: Candidate{SHA: sha("c"), Subject: "c"}}},
			From:     "staging", To: "main",
			Probes: []ProbeReport{probe(4, 2, 4, sha("d"), "d", Bad), probe(5, 3, 1, sha("a"), "a", Good), probe(6, 3, 2, sha("b"), "b", Skip),
				probe(7, 3, 3, sha("c"), "c", Bad), {N: 8, Round: 4, Batch: 2, Prefix: 0, Of: 4, Reason: ReasonConfirm, Verdict: Unknown, Error: "killed"}}},
	}
	for i, s := range hostile {
		d := out["culprit"]
		d.Culprit.Subject = s
		d.From, d.To = "staging"+s[:1], "master"
		d.Probes = append([]ProbeReport(nil), d.Probes...)
		d.Probes[1].Subject = s
		d.Blocked = []CandidateReport{{Candidate: Candidate{SHA: sha("e"), Subject: s}}}
		out["hostile "+string(rune('a'+i))] = d
	}
	return out
}

// The culprit comment's diagram is a flowchart mermaid itself parses,
// whatever the commit subjects say; the comment without probes has none.
func TestCulpritDiagramParses(t *testing.T) {
	cases := diagramCases()
	var names, diagrams []string
	for name, d := range cases {
		g := SearchDiagram(d)
		if g == "" || strings.Contains(g, "```") {
			t.Fatalf("%s: diagram %q", name, g)
		}
		names, diagrams = append(names, name), append(diagrams, g)
	}
	// The diagram of the golden comment, as GitLab and GitHub get it.
	golden, err := os.ReadFile(filepath.Join("testdata", "culprit-comment.golden.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(golden), "```mermaid\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatalf("the golden comment has no mermaid block")
	}
	names, diagrams = append(names, "golden comment"), append(diagrams, block)
	// A broken diagram must fail, or the check proves nothing.
	names, diagrams = append(names, "broken"), append(diagrams, "flowchart TD\n  a[\"unclosed --> b\n")
	errors, types := parseMermaid(t, diagrams)
	for i, name := range names {
		switch {
		case name == "broken" && errors[i] == "":
			t.Errorf("mermaid accepted a broken diagram: the check cannot fail")
		case name != "broken" && errors[i] != "":
			t.Errorf("%s: mermaid: %s\n%s", name, errors[i], diagrams[i])
		case name != "broken" && types[i] != "flowchart-v2":
			t.Errorf("%s: parsed as %q, want a flowchart", name, types[i])
		}
	}
	if SearchDiagram(CommentData{To: "master"}) != "" {
		t.Error("a comment without probes has a diagram")
	}
}

// What the diagram shows: every probe of the batch with its prefix and
// verdict, in its round, then the culprit and what was promoted.
func TestCulpritDiagramContent(t *testing.T) {
	g := SearchDiagram(diagramCases()["suspects, parallel probes"])
	for _, want := range []string{
		`base["main"]`, // batch 2: master is not the run's first
		`batch["batch 2: 4 commit(s) of staging"]`,
		`subgraph round3["round 3"]`,
		`probe5["probe 5 (search): main + 1 of 4<br/>up to aaaaaaaaaa a<br/>✔ good"]`,
		`probe6["probe 6 (search): main + 2 of 4<br/>up to bbbbbbbbbb b<br/>untestable (exit 125)"]`,
		`probe8["probe 8 (confirm): main + 0 of 4<br/>main alone<br/>no verdict: the test could not run"]`,
		`culprit["suspects, one of which breaks main:<br/>bbbbbbbbbb b<br/>cccccccccc c"]`,
		`promoted["nothing before it to promote to main"]`,
		"round2 --> round3\n  subgraph round4",
		"class probe5,promoted good\n  class probe4,probe7,culprit bad\n  class probe6 skip\n  class probe8 unknown\n",
	} {
		if !strings.Contains(g, want) {
			t.Errorf("diagram lacks %q:\n%s", want, g)
		}
	}
	h := SearchDiagram(diagramCases()["hostile a"])
	if !strings.Contains(h, `fix #quot;quoted#quot; #lt;b#gt;html#lt;/b#gt; #amp; stuff`) {
		t.Errorf("hostile subject not escaped:\n%s", h)
	}
}
