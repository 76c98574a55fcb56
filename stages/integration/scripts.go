package integration

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// SubResult is one test reported by a plain test script (a TAP line or a
// JUnit testcase), folded into the report as its own case.
type SubResult struct {
	Name    string
	OK      bool
	Skipped bool
	Message string
	Detail  string
}

var tapLine = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(not ok|ok)\b\s*(\d+)?\s*-?\s*([^#]*?)\s*(?:#\s*(.*))?$`)
})
var tapPlan = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^1\.\.(\d+)`) })

// ParseTAP reads TAP output. A missing plan, a count that does not match
// the plan, or "Bail out!" add a failing result, so a script that dies
// half-way is never read as a pass.
func ParseTAP(out string) []SubResult {
	var res []SubResult
	plan := -1
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := tapPlan().FindStringSubmatch(line); m != nil {
			plan, _ = strconv.Atoi(m[1])
			continue
		}
		if strings.HasPrefix(line, "Bail out!") {
			res = append(res, SubResult{Name: "bail-out", Message: strings.TrimSpace(line)})
			continue
		}
		m := tapLine().FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n := len(res) + 1
		if m[2] != "" {
			n, _ = strconv.Atoi(m[2])
		}
		name := strings.TrimSpace(m[3])
		if name == "" {
			name = fmt.Sprintf("test %d", n)
		}
		r := SubResult{Name: fmt.Sprintf("%d %s", n, name), OK: m[1] == "ok"}
		directive := strings.ToUpper(m[4])
		switch {
		case strings.HasPrefix(directive, "SKIP"):
			r.OK, r.Skipped, r.Message = true, true, m[4]
		case strings.HasPrefix(directive, "TODO"):
			r.OK, r.Message = true, m[4] // TODO failures are expected
		case !r.OK:
			r.Message = "not ok " + strconv.Itoa(n) + " " + name
		}
		res = append(res, r)
	}
	count := 0
	for _, r := range res {
		if r.Name != "bail-out" {
			count++
		}
	}
	switch {
	case plan < 0:
		res = append(res, SubResult{Name: "plan", Message: "no TAP plan (1..N) in the output: the script may have stopped early"})
	case plan != count:
		res = append(res, SubResult{Name: "plan", Message: fmt.Sprintf("TAP plan says %d tests, %d ran", plan, count)})
	}
	return res
}

type junitDoc struct {
	XMLName xml.Name
	Name    string       `xml:"name,attr"`
	Suites  []junitSuite `xml:"testsuite"`
	Cases   []junitCase  `xml:"testcase"`
}

type junitSuite struct {
	Name  string      `xml:"name,attr"`
	Cases []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string      `xml:"name,attr"`
	Classname string      `xml:"classname,attr"`
	Failure   *junitIssue `xml:"failure"`
	Error     *junitIssue `xml:"error"`
	Skipped   *junitIssue `xml:"skipped"`
}

type junitIssue struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// ParseJUnit reads a <testsuites> or <testsuite> document.
func ParseJUnit(data []byte) ([]SubResult, error) {
	var doc junitDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not JUnit XML: %w", err)
	}
	if doc.XMLName.Local != "testsuites" && doc.XMLName.Local != "testsuite" {
		return nil, fmt.Errorf("not JUnit XML: root element <%s>", doc.XMLName.Local)
	}
	var res []SubResult
	add := func(prefix string, cs []junitCase) {
		for _, c := range cs {
			name := c.Name
			if c.Classname != "" {
				name = c.Classname + "." + name
			} else if prefix != "" {
				name = prefix + "." + name
			}
			r := SubResult{Name: name, OK: true}
			switch {
			case c.Failure != nil:
				r.OK, r.Message, r.Detail = false, firstNonEmpty(c.Failure.Message, "failed"), c.Failure.Body
			case c.Error != nil:
				r.OK, r.Message, r.Detail = false, firstNonEmpty(c.Error.Message, "error"), c.Error.Body
			case c.Skipped != nil:
				r.Skipped, r.Message = true, c.Skipped.Message
			}
			res = append(res, r)
		}
	}
	add(doc.Name, doc.Cases) // a bare <testsuite> root
	for _, s := range doc.Suites {
		add(s.Name, s.Cases)
	}
	return res, nil
}

func firstNonEmpty(v ...string) string { return cmp.Or(v...) }
