package report

import "encoding/xml"

// JUnit is a <testsuites> document as GitLab and Jenkins read it.
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
	Cases     []*Case `xml:"testcase"`
}

// Case is one <testcase>. Classname is suite.target.phase by convention.
type Case struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      float64  `xml:"time,attr"`
	Failure   *Problem `xml:"failure,omitempty"`
	Error     *Problem `xml:"error,omitempty"`
	Skipped   *Skip    `xml:"skipped,omitempty"`
	SystemOut string   `xml:"system-out,omitempty"`
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
