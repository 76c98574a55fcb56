package integration

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/pipeline-ci/pipeline/internal/report"
	"github.com/pipeline-ci/pipeline/runners"
	"github.com/pipeline-ci/pipeline/templates"
)

// Rendering the results: JUnit, the JSON data, the MR comment and the child
// pipeline. Everything here is pure: the stage writes what it returns.

// JUnit turns the runs into one <testsuite> per target.
func JUnit(runs []*TargetRun, started time.Time, attach func(target, phase string) string) *report.JUnit {
	j := &report.JUnit{Name: "pipeline integration"}
	for _, tr := range runs {
		s := report.NewSuite("integration."+tr.Target, started).Property("runner", tr.Kind)
		for _, c := range tr.Cases {
			jc := report.NewCase(c.Suite, c.Target, c.Phase, c.Name).Took(c.Duration)
			switch c.Status {
			case Fail:
				jc.Fail(c.Message, c.Detail)
			case Error:
				jc.Errored(c.Message, c.Detail)
			case Skip:
				jc.Skip(c.Message)
			default:
				if c.Detail != "" {
					jc.Output(c.Detail + "\n")
				}
			}
			if c.Status == Fail || c.Status == Error {
				if a := attach(c.Target, c.Phase); a != "" {
					jc.Attach(a)
				}
			}
			s.Add(jc)
		}
		j.Suites = append(j.Suites, s)
	}
	j.Count()
	return j
}

// Counts tallies cases by status.
type Counts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Errors  int `json:"errors"`
	Skipped int `json:"skipped"`
}

func (c *Counts) add(s Status) {
	switch s {
	case Pass:
		c.Passed++
	case Fail:
		c.Failed++
	case Error:
		c.Errors++
	case Skip:
		c.Skipped++
	}
}

// Data is the stage's --json result.
type Data struct {
	Version  string       `json:"version,omitempty"`
	Previous string       `json:"previous,omitempty"`
	Shard    string       `json:"shard,omitempty"`
	Totals   Counts       `json:"totals"`
	Targets  []TargetData `json:"targets"`
	Reports  []string     `json:"reports,omitempty"`
	// Inputs are what the run took from the build's hand-off and the store.
	Inputs *Inputs `json:"inputs,omitempty"`
}

// TargetData is one target in the JSON result.
type TargetData struct {
	Target   string            `json:"target"`
	Runner   string            `json:"runner"`
	Phases   map[string]Counts `json:"phases"`
	Infra    []string          `json:"infrastructure_errors,omitempty"`
	Diff     []Difference      `json:"diff,omitempty"`
	Failures []Case            `json:"failures,omitempty"`
	Seconds  float64           `json:"seconds"`
}

// Summarise builds the JSON data.
func Summarise(runs []*TargetRun, version, previous, shard string) *Data {
	d := &Data{Version: version, Previous: previous, Shard: shard}
	for _, tr := range runs {
		td := TargetData{Target: tr.Target, Runner: tr.Kind, Phases: map[string]Counts{}, Diff: tr.Diff, Seconds: tr.Duration.Seconds()}
		for _, sc := range tr.Scenarios {
			if sc.Infra != "" {
				td.Infra = append(td.Infra, sc.Scenario+": "+sc.Infra)
			}
		}
		for _, c := range tr.Cases {
			pc := td.Phases[c.Phase]
			pc.add(c.Status)
			td.Phases[c.Phase] = pc
			d.Totals.add(c.Status)
			if c.Status == Fail || c.Status == Error {
				td.Failures = append(td.Failures, c)
			}
		}
		d.Targets = append(d.Targets, td)
	}
	return d
}

// Phases are the comment table's columns, in order.
var Phases = []string{Fresh, Upgrade, "diff"}

var phaseTitle = map[string]string{Fresh: "FRESH", Upgrade: "UPGRADE", "diff": "same state"}

// CommentInput is what the MR comment shows.
type CommentInput struct {
	Data   *Data
	JobURL string
	// Link returns the artifact link of a target's phase ("" for none).
	Link func(target, phase string) string
	// MaxFailures caps the failure list (default 30).
	MaxFailures int
}

type commentCell struct{ Text, Link string }
type commentRow struct {
	Target, Runner string
	Cells          []commentCell
}
type commentFailure struct{ Class, Name, Message string }

// commentDiff is a target's FRESH vs UPGRADE differences, side by side.
type commentDiff struct {
	Target string
	Rows   []commentDiffRow
	More   int // differences not shown
	Of     int // differences in all
}
type commentDiffRow struct{ Path, Fresh, Upgrade string }

// Comment renders the MR comment: a targets × phases table and the
// problems found.
func Comment(in CommentInput) (string, error) {
	t, err := templates.Parse("integration/comment.md.tmpl", nil)
	if err != nil {
		return "", err
	}
	max := in.MaxFailures
	if max <= 0 {
		max = 30
	}
	var phases []string
	for _, p := range Phases {
		phases = append(phases, phaseTitle[p])
	}
	var rows []commentRow
	var fails []commentFailure
	var diffs []commentDiff
	total, compared := 0, false
	for _, td := range in.Data.Targets {
		row := commentRow{Target: mdEscape(td.Target), Runner: td.Runner}
		for _, p := range Phases {
			c, ran := td.Phases[p]
			cell := commentCell{Text: "—"}
			if ran {
				cell.Text = cellText(c, p)
				if in.Link != nil {
					cell.Link = in.Link(td.Target, p)
				}
				if p == "diff" && c.Skipped == 0 {
					compared = true
				}
			}
			row.Cells = append(row.Cells, cell)
		}
		rows = append(rows, row)
		if len(td.Diff) > 0 {
			diffs = append(diffs, diffTable(td, max))
		}
		for _, f := range td.Failures {
			if f.Suite == "state" && f.Phase == "diff" && len(td.Diff) > 0 {
				continue // in the target's side-by-side table
			}
			total++
			if len(fails) < max {
				fails = append(fails, commentFailure{Class: mdEscape(f.Classname()), Name: mdEscape(f.Name), Message: mdEscape(report.OneLine(f.Message))})
			}
		}
	}
	return templates.Render(t, map[string]any{
		"Passed":   in.Data.Totals.Failed == 0 && in.Data.Totals.Errors == 0,
		"Version":  in.Data.Version,
		"Shard":    in.Data.Shard,
		"Phases":   phases,
		"Rows":     rows,
		"Failures": fails,
		"Diffs":    diffs,
		"More":     total > len(fails),
		"Total":    total,
		"Compared": compared,
		"JobURL":   in.JobURL,
	})
}

// diffTable is the first max differences of a target, one row each:
// the snapshot key, its FRESH value and its UPGRADE value.
func diffTable(td TargetData, max int) commentDiff {
	d := commentDiff{Target: mdEscape(td.Target), Of: len(td.Diff)}
	for i, x := range td.Diff {
		if i == max {
			d.More = len(td.Diff) - max
			break
		}
		d.Rows = append(d.Rows, commentDiffRow{Path: mdEscape(x.Key), Fresh: mdEscape(show(x.A)), Upgrade: mdEscape(show(x.B))})
	}
	return d
}

func cellText(c Counts, phase string) string {
	switch {
	case c.Errors > 0:
		return fmt.Sprintf("⚠️ %d error(s)", c.Errors)
	case c.Failed > 0 && phase == "diff":
		return fmt.Sprintf("❌ %d difference(s)", c.Failed)
	case c.Failed > 0:
		return fmt.Sprintf("❌ %d failed", c.Failed)
	case phase == "diff" && c.Passed == 0:
		return "⏭️ not compared"
	case phase == "diff":
		return "✅ same"
	}
	return fmt.Sprintf("✅ %d passed", c.Passed)
}

// mdEscape keeps a value from breaking a Markdown table.
func mdEscape(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}

// ChildPipelineInput configures the generated GitLab child pipeline.
type ChildPipelineInput struct {
	Targets []string
	Stage   string
	Image   string
	Tags    []string
	// NeedsJob is the parent's job whose artifacts (build output, report
	// dir and dotenv) every child job downloads; "" downloads none.
	NeedsJob string
	// Dir is the directory of pipeline.yaml relative to the repository's
	// top (the job's CI_PROJECT_DIR): the jobs run `pipeline -C Dir`.
	Dir string
	// ReportDir is the report directory relative to the repository's top;
	// empty means Dir's default, Dir/.pipeline/reports.
	ReportDir string
}

// ChildPipeline renders a GitLab child pipeline with one job per target.
func ChildPipeline(in ChildPipelineInput) (string, error) {
	t, err := templates.Parse("integration/child-pipeline.yml.tmpl", template.FuncMap{
		"yamlString": func(s string) string { return fmt.Sprintf("%q", s) },
		"shellQuote": runners.Quote,
	})
	if err != nil {
		return "", err
	}
	if in.Stage == "" {
		in.Stage = "integration"
	}
	if in.Dir == "" {
		in.Dir = "."
	}
	defaultReports := path.Join(in.Dir, ".pipeline/reports")
	var args []string // pipeline's global flags of every job
	if in.Dir != "." {
		args = append(args, "-C", runners.Quote(in.Dir))
	}
	if in.ReportDir == "" {
		in.ReportDir = defaultReports
	} else if in.ReportDir != defaultReports {
		args = append(args, "--report-dir", `"$CI_PROJECT_DIR"/`+runners.Quote(in.ReportDir))
	}
	type job struct{ JobName, Target string }
	var jobs []job
	targets := append([]string(nil), in.Targets...)
	sort.Strings(targets)
	for _, name := range targets {
		jobs = append(jobs, job{JobName: "integration:" + name, Target: name})
	}
	return templates.Render(t, map[string]any{
		"Stage": in.Stage, "Image": in.Image, "Tags": in.Tags, "NeedsJob": in.NeedsJob,
		"ReportDir": in.ReportDir, "Jobs": jobs, "Args": strings.Join(args, " "),
	})
}
