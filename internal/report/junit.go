package report

import (
	"cmp"
	_ "embed"
	"encoding/xml"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"
)

// JUnit is a <testsuites> document as GitLab (artifacts:reports:junit) and
// Jenkins (the junit step) read it. junit.xsd describes the exact
// form written here; a test validates the output against it with xmllint.
type JUnit struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr,omitempty"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Time     float64  `xml:"time,attr"`
	Suites   []*Suite `xml:"testsuite"`
}

// Suite is one <testsuite>.
type Suite struct {
	Name      string  `xml:"name,attr"`
	Tests     int     `xml:"tests,attr"`
	Failures  int     `xml:"failures,attr"`
	Errors    int     `xml:"errors,attr"`
	Skipped   int     `xml:"skipped,attr"`
	Time      float64 `xml:"time,attr"`
	Timestamp string  `xml:"timestamp,attr,omitempty"`
	// Properties (commit, target, image...) show in Jenkins' test page.
	Properties *Properties `xml:"properties,omitempty"`
	Cases      []*Case     `xml:"testcase"`
}

// Properties is a suite's <properties> element.
type Properties struct {
	List []Property `xml:"property"`
}

// Property is one <property name="" value=""/> of a suite.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Case is one <testcase>. Classname is suite.target.phase by convention
// (see NewCase): Jenkins shows it as package "suite.target", class "phase";
// GitLab shows it in the test's "Class" column.
type Case struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      float64  `xml:"time,attr"`
	Failure   *Problem `xml:"failure,omitempty"`
	Error     *Problem `xml:"error,omitempty"`
	Skipped   *Skip    `xml:"skipped,omitempty"`
	SystemOut string   `xml:"system-out,omitempty"`
	SystemErr string   `xml:"system-err,omitempty"`
}

// Problem is a <failure> (the check failed) or an <error> (the
// infrastructure failed). Message is one line; Body has the details.
type Problem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",chardata"`
}

// Skip is a <skipped>.
type Skip struct {
	Message string `xml:"message,attr,omitempty"`
}

// JUnitSchema is junit.xsd: the XML Schema of the reports written here, for
// tests (see reporttest.ValidateJUnit) and for anyone checking a report.
//
//go:embed junit.xsd
var JUnitSchema []byte

// TimestampFormat is the suite timestamp: ISO 8601 in UTC without a zone
// designator, the form every JUnit reader (Ant's schema, Jenkins) accepts.
const TimestampFormat = "2006-01-02T15:04:05"

// NewSuite makes a suite that started at started (zero: no timestamp).
func NewSuite(name string, started time.Time) *Suite {
	s := &Suite{Name: name}
	if !started.IsZero() {
		s.Timestamp = started.UTC().Format(TimestampFormat)
	}
	return s
}

// Add appends cases to the suite and returns it.
func (s *Suite) Add(cases ...*Case) *Suite {
	s.Cases = append(s.Cases, cases...)
	return s
}

// Property adds a name=value property to the suite and returns it.
func (s *Suite) Property(name, value string) *Suite {
	if s.Properties == nil {
		s.Properties = &Properties{}
	}
	s.Properties.List = append(s.Properties.List, Property{Name: name, Value: value})
	return s
}

// Classname joins suite, target and phase with dots, leaving out empty
// parts. A dot inside a part would shift Jenkins' package/class split, so it
// becomes "_" ("web.tls" → "web_tls").
func Classname(suite, target, phase string) string {
	var parts []string
	for _, p := range []string{suite, target, phase} {
		p = strings.TrimSpace(strings.ReplaceAll(p, ".", "_"))
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ".")
}

// NewCase makes a passing test case: classname suite.target.phase, and a
// name that stays the same from run to run (no times, ids or paths in it,
// so GitLab and Jenkins can follow a test's history).
func NewCase(suite, target, phase, name string) *Case {
	return &Case{Name: strings.TrimSpace(name), Classname: Classname(suite, target, phase)}
}

// Took sets the case's duration and returns it.
func (c *Case) Took(d time.Duration) *Case {
	c.Time = d.Seconds()
	return c
}

// Fail marks the case failed: the check ran and said no. message is shown
// on one line in the test list; details (diff, log tail) in the body.
func (c *Case) Fail(message, details string) *Case {
	c.Failure = &Problem{Message: OneLine(message), Type: "failure", Body: details}
	return c
}

// Errored marks the case broken by infrastructure (runner unreachable, VM
// did not boot): not a verdict on the code under test.
func (c *Case) Errored(message, details string) *Case {
	c.Error = &Problem{Message: OneLine(message), Type: "error", Body: details}
	return c
}

// Skip marks the case skipped, saying why.
func (c *Case) Skip(reason string) *Case {
	c.Skipped = &Skip{Message: OneLine(reason)}
	return c
}

// Output appends to the case's system-out.
func (c *Case) Output(s string) *Case {
	c.SystemOut += s
	return c
}

// Attach links a file (a log, a state diff) to the case the way GitLab and
// Jenkins' attachments plugin read it: [[ATTACHMENT|path]] in system-out,
// the path relative to the project directory.
func (c *Case) Attach(path string) *Case {
	if c.SystemOut != "" && !strings.HasSuffix(c.SystemOut, "\n") {
		c.SystemOut += "\n"
	}
	c.SystemOut += "[[ATTACHMENT|" + path + "]]\n"
	return c
}

// Passed reports whether the case neither failed nor errored.
func (c *Case) Passed() bool { return c.Failure == nil && c.Error == nil }

// maxMessage keeps a message attribute readable in a test list.
const maxMessage = 200

// OneLine makes s fit a message attribute: escape codes removed, the first
// non-empty line, trimmed and cut to maxMessage characters.
func OneLine(s string) string {
	s = StripANSI(s)
	lines := strings.FieldsFunc(s, func(r rune) bool {
		switch r {
		case '\n', '\r', '\v', '\f', '\u0085', '\u2028', '\u2029':
			return true
		}
		return false
	})
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if r := []rune(line); len(r) > maxMessage {
			line = string(r[:maxMessage-1]) + "…"
		}
		return line
	}
	return ""
}

var ansi = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]`) })

// StripANSI removes terminal escape sequences (colours, GitLab section
// markers' erase codes), which XML cannot carry and reports do not need.
func StripANSI(s string) string { return ansi().ReplaceAllString(s, "") }

// Count fills in the tests/failures/errors/skipped/time totals.
func (j *JUnit) Count() {
	j.Tests, j.Failures, j.Errors, j.Skipped, j.Time = 0, 0, 0, 0, 0
	for _, s := range j.Suites {
		s.Tests, s.Failures, s.Errors, s.Skipped = len(s.Cases), 0, 0, 0
		var t float64
		for _, c := range s.Cases {
			t += c.Time
			switch {
			case c.Error != nil:
				s.Errors++
			case c.Failure != nil:
				s.Failures++
			case c.Skipped != nil:
				s.Skipped++
			}
		}
		if s.Time == 0 {
			s.Time = t
		}
		j.Tests += s.Tests
		j.Failures += s.Failures
		j.Errors += s.Errors
		j.Skipped += s.Skipped
		j.Time += s.Time
	}
}

// normalize makes the document what the schema promises: times in
// milliseconds (so no exponent is ever printed), one-line messages, no
// escape codes in text.
func (j *JUnit) normalize() {
	for _, s := range j.Suites {
		for _, c := range s.Cases {
			c.SystemOut, c.SystemErr = StripANSI(c.SystemOut), StripANSI(c.SystemErr)
			for _, p := range []*Problem{c.Failure, c.Error} {
				if p == nil {
					continue
				}
				p.Message, p.Body = OneLine(p.Message), StripANSI(p.Body)
				if p.Message == "" {
					// The test list needs something to show.
					p.Message = firstNonEmpty(OneLine(p.Body), p.Type, "failed")
				}
			}
			if c.Skipped != nil {
				c.Skipped.Message = OneLine(c.Skipped.Message)
			}
		}
	}
	j.Count()
	for _, s := range j.Suites {
		s.Time = ms(s.Time)
		for _, c := range s.Cases {
			c.Time = ms(c.Time)
		}
	}
	j.Time = ms(j.Time)
}

func ms(sec float64) float64 {
	if sec < 0 || math.IsNaN(sec) || math.IsInf(sec, 0) {
		return 0
	}
	return math.Round(sec*1000) / 1000
}

// Marshal renders the document as XML (header included), normalised.
func (j *JUnit) Marshal() ([]byte, error) {
	j.normalize()
	out, err := xml.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(out, '\n')...), nil
}

func firstNonEmpty(v ...string) string { return cmp.Or(v...) }
