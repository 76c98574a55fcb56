package report

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

// FuzzDotenv: whatever names and values a stage hands over, the file is
// either refused with an error or follows GitLab's rules and reads back as
// what was cleaned.
func FuzzDotenv(f *testing.F) {
	f.Add("PIPELINE_VERSION", "1.4.0", "image.url", "s3://b/x.qcow2")
	f.Add("a-b", "line\nbreak", "a_b", "x")
	f.Add("9lives", "  padded\r\n", "", "")
	f.Add("ÄÖ", "\"quoted\"", "K", "=")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		clean, err := CleanDotenv(map[string]string{k1: v1, k2: v2})
		if err != nil {
			return
		}
		text, err := FormatDotenv(clean)
		if err != nil {
			if !strings.Contains(errs.Format(err), "over GitLab's limit") {
				t.Fatalf("clean variables refused: %v", err)
			}
			return
		}
		for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			if line == "" && text != "" {
				t.Fatalf("empty line in %q", text)
			}
		}
		back, err := ParseDotenv(text)
		if err != nil {
			t.Fatalf("ParseDotenv(%q): %v", text, err)
		}
		if len(back) != len(clean) {
			t.Fatalf("read back %v, wrote %v", back, clean)
		}
		for k, v := range clean {
			if back[k] != v {
				t.Fatalf("%s: read back %q, wrote %q", k, back[k], v)
			}
		}
	})
}

// FuzzJUnit: any text in names, messages and output gives well-formed XML
// with a one-line message, and reads back.
func FuzzJUnit(f *testing.F) {
	f.Add("nginx answers", "expected 1\nfound 2", "diff\x00\x1b[31m", "out\x07")
	f.Add("<&>\"'", "", "]]>", "\xff\xfe")
	f.Fuzz(func(t *testing.T, name, msg, body, out string) {
		j := &JUnit{Suites: []*Suite{NewSuite("s", time.Unix(0, 0)).Add(
			NewCase("suite", "target", "phase", name).Fail(msg, body).Output(out).Took(time.Duration(len(body)) * time.Microsecond),
		)}}
		b, err := j.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var back JUnit
		if err := xml.Unmarshal(b, &back); err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, b)
		}
		m := back.Suites[0].Cases[0].Failure.Message
		if m == "" || strings.ContainsAny(m, "\r\n") || utf8.RuneCountInString(m) > maxMessage {
			t.Fatalf("message %q is not one short line", m)
		}
	})
}
