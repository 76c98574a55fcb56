package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sample is a report with every feature: a pass, a failure with details, an
// infrastructure error, a skip, output with escape codes and an attachment.
func sample() *JUnit {
	started := time.Date(2026, 3, 2, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	fresh := NewSuite("integration.fresh", started).Property("commit", "0123abcd").Property("target", "qemu-debian12")
	fresh.Add(
		NewCase("web", "fresh", "check", "nginx answers on :443").Took(1234567*time.Microsecond).
			Output("\x1b[32mok\x1b[0m 200 in 12ms\n"),
		NewCase("web", "fresh", "check", "config has no <default> & \"quoted\" server").Took(250*time.Millisecond).
			Fail("expected 1 server block, found 2\nsecond line of the message", "--- want\n+++ got\n@@ -1 +1,2 @@\n server a\n+server b\n"),
		NewCase("db.tls", "fresh", "provision", "postgres starts").Took(30*time.Second).
			Errored("ssh 127.0.0.1:2222: connection refused after 3 tries", "dial tcp 127.0.0.1:2222: connect: connection refused\x00\x07 (control bytes from a console)").
			Attach(".pipeline/logs/db-fresh.log"),
		NewCase("web", "fresh", "check", "ipv6 listener").Skip("target has no IPv6"),
		NewCase("web", "fresh", "check", "tiny").Took(4*time.Microsecond),
	)
	upgraded := NewSuite("integration.upgraded", started.Add(time.Minute))
	upgraded.Add(NewCase("web", "upgraded", "check", "nginx answers on :443").Took(time.Second))
	return &JUnit{Name: "pipeline integration", Suites: []*Suite{fresh, upgraded}}
}

func TestJUnitGolden(t *testing.T) {
	got, err := sample().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.golden.xml", got)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run go test -update if the change is meant):\n--- got\n%s", path, got)
	}
}

func TestJUnitCountsAndNormalisation(t *testing.T) {
	j := sample()
	out, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if j.Tests != 6 || j.Failures != 1 || j.Errors != 1 || j.Skipped != 1 {
		t.Errorf("totals tests=%d failures=%d errors=%d skipped=%d", j.Tests, j.Failures, j.Errors, j.Skipped)
	}
	if s := j.Suites[0]; s.Tests != 5 || s.Time != 31.485 || s.Timestamp != "2026-03-02T08:30:00" {
		t.Errorf("suite: tests=%d time=%v timestamp=%s", s.Tests, s.Time, s.Timestamp)
	}
	text := string(out)
	for _, bad := range []string{"\x1b", "\x00", "\x07", "e-0", "second line of the message"} {
		if strings.Contains(text, bad) {
			t.Errorf("output contains %q", bad)
		}
	}
	for _, want := range []string{
		`classname="web.fresh.check"`, `classname="db_tls.fresh.provision"`, // a dot inside a part must not shift the split
		`message="expected 1 server block, found 2"`, `time="0"`,
		"[[ATTACHMENT|.pipeline/logs/db-fresh.log]]",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %s", want)
		}
	}
	// It must read back as JUnit with the same structure.
	var back JUnit
	if err := xml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Suites) != 2 || back.Suites[0].Cases[1].Failure == nil || !strings.Contains(back.Suites[0].Cases[1].Failure.Body, "+server b") {
		t.Errorf("round trip lost the failure body: %+v", back.Suites[0].Cases[1])
	}
}

func TestJUnitEmptyMessageGetsOne(t *testing.T) {
	j := &JUnit{Suites: []*Suite{NewSuite("s", time.Time{}).Add(NewCase("a", "", "", "x").Fail("", "\n  boom happened\nmore"))}}
	if _, err := j.Marshal(); err != nil {
		t.Fatal(err)
	}
	if m := j.Suites[0].Cases[0].Failure.Message; m != "boom happened" {
		t.Errorf("message = %q", m)
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"\n\n  first  \nsecond":    "first",
		"\x1b[31mred\x1b[0m\r\n":   "red",
		strings.Repeat("é", 300):   strings.Repeat("é", 199) + "…",
		"tab\tinside stays a tab ": "tab\tinside stays a tab",
	} {
		if got := OneLine(in); got != want {
			t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestJUnitValidatesAgainstSchema checks the written XML with a real
// validator (xmllint from libxml2) against junit.xsd, and checks
// that the schema really rejects what GitLab or Jenkins would mis-read.
func TestJUnitValidatesAgainstSchema(t *testing.T) {
	xmllint := testutil.NeedTool(t, "xmllint")
	dir := t.TempDir()
	d := &Dir{Path: dir}
	p, err := d.WriteJUnit("junit-integration.xml", sample())
	if err != nil {
		t.Fatal(err)
	}
	empty, err := d.WriteJUnit("junit-empty.xml", &JUnit{})
	if err != nil {
		t.Fatal(err)
	}
	zoned := filepath.Join(dir, "zoned.xml")
	if err := os.WriteFile(zoned, []byte(strings.Replace(readFile(t, p), `timestamp="2026-03-02T08:30:00"`, `timestamp="2026-03-02T08:30:00.5+01:00"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p, empty, zoned} {
		if out, err := validate(xmllint, f); err != nil {
			t.Errorf("%s does not validate: %v\n%s", filepath.Base(f), err, out)
		}
	}

	bad := map[string]string{
		"exponent time":       strings.Replace(readFile(t, p), `time="0"`, `time="1e-05"`, 1),
		"two-line message":    strings.Replace(readFile(t, p), `message="expected 1 server block, found 2"`, `message="a&#xA;b"`, 1),
		"missing classname":   strings.Replace(readFile(t, p), ` classname="web.fresh.check"`, "", 1),
		"not ISO 8601":        strings.Replace(readFile(t, p), `timestamp="2026-03-02T08:30:00"`, `timestamp="03/02/2026 08:30"`, 1),
		"duplicate test name": strings.Replace(readFile(t, p), `name="tiny"`, `name="ipv6 listener"`, 1),
		"missing counts":      strings.Replace(readFile(t, p), ` failures="1"`, "", 1),
	}
	for name, doc := range bad {
		f := filepath.Join(dir, "bad.xml")
		if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := validate(xmllint, f); err == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}

func validate(xmllint, file string) (string, error) {
	out, err := exec.Command(xmllint, "--noout", "--schema", "junit.xsd", file).CombinedOutput()
	return string(out), err
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReportsAreMasked(t *testing.T) {
	const tok = "glpat-abcdefghij"
	mask := func(s string) string { return strings.ReplaceAll(s, tok, "[MASKED]") }
	d := &Dir{Path: t.TempDir(), Mask: mask}
	j := &JUnit{Suites: []*Suite{NewSuite("s", time.Time{}).Add(
		NewCase("a", "b", "c", "push").Errored("push https://oauth2:"+tok+"@host failed", "token "+tok))}}
	files := []string{}
	for _, write := range []func() (string, error){
		func() (string, error) { return d.WriteJUnit("junit.xml", j) },
		func() (string, error) { return d.WriteJSON("data.json", map[string]string{"url": tok}) },
		func() (string, error) { return d.WriteDotenv(map[string]string{"URL": "https://" + tok + "@x"}) },
		func() (string, error) { return d.WriteSummary(&Summary{Command: "run", Error: "401 for " + tok}) },
	} {
		p, err := write()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, p := range files {
		text := readFile(t, p)
		if strings.Contains(text, tok) || !strings.Contains(text, "[MASKED]") {
			t.Errorf("%s not masked:\n%s", filepath.Base(p), text)
		}
	}
	left, _ := filepath.Glob(filepath.Join(d.Path, ".*.tmp"))
	if len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}

func TestNilDirWritesNothing(t *testing.T) {
	var d *Dir
	if p, err := d.WriteJSON("x.json", 1); p != "" || err != nil {
		t.Errorf("nil Dir: %q %v", p, err)
	}
	if p, err := (&Dir{}).WriteDotenv(map[string]string{"A": "b"}); p != "" || err != nil {
		t.Errorf("empty Dir: %q %v", p, err)
	}
}

func TestSummary(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	p, err := d.WriteSummary(&Summary{Command: "run", CI: "gitlab", Commit: "0123abcd", Started: "2026-03-02T08:30:00Z",
		Seconds: 1.5, ExitCode: 1, Error: "integration: 2 suites failed",
		Results: []map[string]string{{"stage": "build", "outcome": "passed"}}})
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(readFile(t, p)), &back); err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != SummaryFile || back["exit_code"] != float64(1) || back["ci"] != "gitlab" || back["dry_run"] != false {
		t.Errorf("summary = %v", back)
	}
}
