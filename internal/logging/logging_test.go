package logging

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

func newTest(t *testing.T, opts Options, secrets ...string) (*Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	m := &Masker{}
	m.Add(secrets...)
	l, err := New(&buf, opts, m)
	if err != nil {
		t.Fatal(err)
	}
	return l, &buf
}

func TestGitLabSections(t *testing.T) {
	l, buf := newTest(t, Options{Sections: true})
	end := l.Section("stage build", "pipeline build")
	l.Info("inside")
	end()
	end() // a second call must not close it twice

	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want start, line, end; got %q", buf.String())
	}
	start := regexp.MustCompile(`^\x1b\[0Ksection_start:(\d{10}):stage_build\[collapsed=false\]\r\x1b\[0Kpipeline build$`)
	if !start.MatchString(lines[0]) {
		t.Errorf("section start = %q", lines[0])
	}
	if !strings.Contains(lines[1], "inside") {
		t.Errorf("line inside the section = %q", lines[1])
	}
	endRe := regexp.MustCompile(`^\x1b\[0Ksection_end:(\d{10}):stage_build\r\x1b\[0K$`)
	if !endRe.MatchString(lines[2]) {
		t.Errorf("section end = %q", lines[2])
	}
	s, e := start.FindStringSubmatch(lines[0])[1], endRe.FindStringSubmatch(lines[2])[1]
	if e < s {
		t.Errorf("section ends (%s) before it starts (%s)", e, s)
	}
}

func TestStepSectionsAreNamedAfterTheStage(t *testing.T) {
	l, buf := newTest(t, Options{Sections: true})
	l = l.With(logrus.Fields{"stage": "build", "commit": "0123abcd"})
	l.Step("lock")()
	if !strings.Contains(buf.String(), ":build_lock[collapsed=false]\r\x1b[0Kbuild: lock\n") ||
		!strings.Contains(buf.String(), ":build_lock\r\x1b[0K\n") {
		t.Errorf("step section = %q", buf.String())
	}
}

func TestPlainLinesWithoutSections(t *testing.T) {
	// Jenkins and a terminal: no escape codes at all, a header line and a done line.
	l, buf := newTest(t, Options{})
	end := l.With(logrus.Fields{"stage": "promote", "commit": "ab12cd34"}).Section("stage_promote", "pipeline promote")
	end()
	out := buf.String()
	if strings.Contains(out, "\x1b") || strings.Contains(out, "section_start") {
		t.Errorf("plain log has escape codes or GitLab markers: %q", out)
	}
	if !strings.Contains(out, `msg="── pipeline promote"`) || !strings.Contains(out, "pipeline promote: done in") {
		t.Errorf("missing header or done line: %q", out)
	}
	if !strings.Contains(out, "stage=promote") || !strings.Contains(out, "commit=ab12cd34") {
		t.Errorf("structured fields missing: %q", out)
	}
}

func TestColoursOnlyWhenAsked(t *testing.T) {
	l, buf := newTest(t, Options{Color: true})
	l.Warn("careful")
	if !strings.Contains(buf.String(), "\x1b[") {
		t.Errorf("Color: true printed no colour: %q", buf.String())
	}
	l, buf = newTest(t, Options{Color: false})
	l.Warn("careful")
	if strings.Contains(buf.String(), "\x1b[") {
		t.Errorf("Color: false printed colour: %q", buf.String())
	}
}

func TestJSONFormat(t *testing.T) {
	l, buf := newTest(t, Options{Format: "json", Sections: true}, "s3cr3t-token")
	sl := l.With(logrus.Fields{"stage": "build", "commit": "0123abcd"})
	end := sl.Section("stage_build", "pipeline build")
	sl.WithField("url", "https://x:s3cr3t-token@host").Info("fetching")
	end()

	var entries []map[string]any
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line is not JSON (GitLab markers must not appear): %q: %v", sc.Text(), err)
		}
		entries = append(entries, m)
	}
	if len(entries) != 3 {
		t.Fatalf("want 3 entries, got %d", len(entries))
	}
	for _, e := range entries {
		if e["stage"] != "build" || e["commit"] != "0123abcd" {
			t.Errorf("entry lacks stage/commit fields: %v", e)
		}
	}
	if entries[0]["section"] != "stage_build" || entries[0]["section_event"] != "start" {
		t.Errorf("section start entry = %v", entries[0])
	}
	if entries[2]["section_event"] != "end" || entries[2]["seconds"] == nil {
		t.Errorf("section end entry = %v", entries[2])
	}
	if entries[1]["url"] != "https://x:[MASKED]@host" {
		t.Errorf("secret in a field not masked: %v", entries[1]["url"])
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := New(&bytes.Buffer{}, Options{Level: "loud"}, nil); err == nil || !strings.Contains(errs.Format(err), "--log-level") {
		t.Errorf("bad level: %v", err)
	}
	if _, err := New(&bytes.Buffer{}, Options{Format: "xml"}, nil); err == nil || !strings.Contains(errs.Format(err), "--log-format") {
		t.Errorf("bad format: %v", err)
	}
}

func TestLevelFilters(t *testing.T) {
	l, buf := newTest(t, Options{Level: "warn"})
	l.Info("hidden")
	l.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "shown") {
		t.Errorf("level warn: %q", buf.String())
	}
}

func TestMaskingEverywhere(t *testing.T) {
	const tok = "glpat-0123456789abcdef"
	l, buf := newTest(t, Options{Sections: true}, tok)
	end := l.Section("s", "cloning https://oauth2:"+tok+"@gitlab.example.com/x.git")
	l.Infof("token is %s", tok)
	l.WithField("auth", "Bearer "+tok).Warn("calling the API")
	l.Errorf("%v", fmt.Errorf("push: %s rejected", tok))
	w := l.Writer()
	fmt.Fprintf(w, "git said: %s\n", tok)
	end()
	if strings.Contains(buf.String(), tok) {
		t.Fatalf("secret leaked:\n%s", buf.String())
	}
	if n := strings.Count(buf.String(), Masked); n != 5 {
		t.Errorf("want 5 masked occurrences, got %d:\n%s", n, buf.String())
	}
}

func TestMaskingASecretSplitAcrossWrites(t *testing.T) {
	const tok = "AKIAsplit-secret-value"
	l, buf := newTest(t, Options{}, tok)
	w := l.Writer()
	for _, chunk := range []string{"progress: AKIAsp", "lit-sec", "ret-value done\nnext ", "line ", tok[:4]} {
		fmt.Fprint(w, chunk)
	}
	if strings.Contains(buf.String(), "next") {
		t.Errorf("an unfinished line was written before its newline: %q", buf.String())
	}
	fmt.Fprint(w, tok[4:]) // the secret completes without a newline
	l.Flush()
	want := "progress: [MASKED] done\nnext line [MASKED]\n"
	if buf.String() != want {
		t.Errorf("streamed output = %q, want %q", buf.String(), want)
	}
}

func TestLogLineEndsAnUnfinishedStreamedLine(t *testing.T) {
	l, buf := newTest(t, Options{Sections: true}, "hunter2-secret")
	end := l.Section("s", "t")
	fmt.Fprint(l.Writer(), "no newline hunter2-")
	fmt.Fprint(l.Writer(), "secret")
	end()
	out := buf.String()
	if !strings.Contains(out, "no newline [MASKED]\n\x1b[0Ksection_end:") {
		t.Errorf("unfinished line not flushed inside the section: %q", out)
	}
}

func TestLongLineWithoutNewlineIsBoundedAndMasked(t *testing.T) {
	const tok = "very-long-secret-token"
	l, buf := newTest(t, Options{}, tok)
	w := l.Writer()
	// Put the secret across the point where the sink must give up waiting
	// for a newline.
	pad := strings.Repeat(".", maxPartial-5)
	fmt.Fprint(w, pad+tok[:10])
	fmt.Fprint(w, tok[10:]+strings.Repeat("x", 100))
	if buf.Len() == 0 {
		t.Fatal("a line longer than maxPartial was held back entirely")
	}
	l.Flush()
	if strings.Contains(buf.String(), tok) || !strings.Contains(buf.String(), Masked) {
		t.Errorf("secret at the flush boundary not masked (len %d)", buf.Len())
	}
}

func TestMasker(t *testing.T) {
	m := &Masker{}
	m.Add("", "abc", "  ", "token-short", "token-short-and-longer", "token-short")
	if m.Len() != 2 {
		t.Errorf("want 2 secrets (empty/short/duplicate ignored), got %d", m.Len())
	}
	got := m.Mask("a token-short-and-longer and token-short, abc")
	if want := "a [MASKED] and [MASKED], abc"; got != want {
		t.Errorf("Mask = %q, want %q", got, want)
	}
	m.Add(`pa"ss\word<&>`)
	j, _ := json.Marshal(map[string]string{"v": `x pa"ss\word<&> y`})
	if got := m.Mask(string(j)); got != `{"v":"x [MASKED] y"}` {
		t.Errorf("JSON-escaped secret: %s", got)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(`pa"ss\word<&>`)
	if got := m.Mask(b.String()); got != "\"[MASKED]\"\n" {
		t.Errorf("JSON-escaped secret without HTML escaping: %s", got)
	}
	var nilM *Masker
	if nilM.Mask("x") != "x" {
		t.Error("nil Masker must pass text through")
	}
}

func TestMaskedWriter(t *testing.T) {
	m := &Masker{}
	m.Add("ghp_secret12345")
	var buf bytes.Buffer
	w := NewMaskedWriter(&buf, m)
	fmt.Fprint(w, "release notes at https://x:ghp_sec")
	fmt.Fprint(w, "ret12345@host\nno newline ghp_secret")
	fmt.Fprint(w, "12345")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "release notes at https://x:[MASKED]@host\nno newline [MASKED]"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestMultiLineSecretMaskedLineByLine(t *testing.T) {
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAMwAAAAtzc2gtZWQyNTUxOQAAACD\n-----END OPENSSH PRIVATE KEY-----\n"
	l, buf := newTest(t, Options{}, key)
	w := l.Writer()
	for _, line := range strings.SplitAfter(key, "\n") {
		fmt.Fprint(w, "ssh: "+line)
	}
	l.Flush()
	if strings.Contains(buf.String(), "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ") || strings.Contains(buf.String(), "AAAAMwAAAAtzc2gtZWQyNTUxOQAAACD") {
		t.Errorf("a line of a multi-line secret leaked:\n%s", buf.String())
	}
}

func TestGitHubGroups(t *testing.T) {
	l, buf := newTest(t, Options{Groups: true})
	end := l.Section("stage_build", "pipeline build")
	l.Info("inside")
	end()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 || lines[0] != "::group::pipeline build" || lines[3] != "::endgroup::" ||
		!strings.Contains(lines[1], "inside") || !strings.Contains(lines[2], "pipeline build: done in") {
		t.Errorf("GitHub groups:\n%s", buf.String())
	}
}
