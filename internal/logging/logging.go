// Package logging is the job log: logrus underneath, GitLab collapsible
// sections under GitLab CI, plain lines under Jenkins, colours only on a
// TTY, JSON for machines, and every known secret masked in every line.
//
// Everything the log prints goes through one sink that masks whole lines:
// a secret that a streamed command writes in two pieces is still masked,
// because the sink holds an unfinished line until its newline arrives (or
// until Flush).
package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Options configure a Logger.
type Options struct {
	Format   string // text or json
	Level    string // debug, info, warn, error
	Sections bool   // emit GitLab section_start/section_end markers
	Groups   bool   // emit GitHub Actions ::group::/::endgroup:: lines
	Color    bool
}

// Logger is the job log. Use Entry (or the logrus methods it forwards) for
// lines and Section for a collapsible group.
type Logger struct {
	*logrus.Entry
	out      *sink
	masker   *Masker
	sections bool
	groups   bool
	json     bool
}

// New makes a Logger writing to w. Secrets added to the masker later are
// masked from then on.
func New(w io.Writer, opts Options, masker *Masker) (*Logger, error) {
	if masker == nil {
		masker = &Masker{}
	}
	s := &sink{w: w, m: masker}
	l := logrus.New()
	l.SetOutput(lineWriter{s})
	lvl := logrus.InfoLevel
	if opts.Level != "" {
		var err error
		if lvl, err = logrus.ParseLevel(opts.Level); err != nil {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", opts.Level)
		}
	}
	l.SetLevel(lvl)
	isJSON := false
	switch opts.Format {
	case "", "text":
		l.SetFormatter(&logrus.TextFormatter{ForceColors: opts.Color, DisableColors: !opts.Color, FullTimestamp: true, TimestampFormat: "15:04:05"})
	case "json":
		isJSON = true
		l.SetFormatter(&logrus.JSONFormatter{TimestampFormat: time.RFC3339Nano})
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", opts.Format)
	}
	return &Logger{Entry: logrus.NewEntry(l), out: s, masker: masker, sections: opts.Sections && !isJSON, groups: opts.Groups && !opts.Sections && !isJSON, json: isJSON}, nil
}

// Discard is a Logger that writes nothing, for tests.
func Discard() *Logger {
	l, _ := New(io.Discard, Options{}, nil)
	return l
}

// Masker returns the masker shared by this logger.
func (l *Logger) Masker() *Masker { return l.masker }

// With returns a Logger with extra structured fields (stage=…, commit=…).
func (l *Logger) With(fields logrus.Fields) *Logger {
	c := *l
	c.Entry = l.Entry.WithFields(fields)
	return &c
}

var sectionName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^a-zA-Z0-9_.-]+`) })

// Section opens a collapsible section (GitLab) or a header line (elsewhere)
// and returns the function that closes it. Under GitLab CI the markers are
// the ones the job log understands:
//
//	\x1b[0Ksection_start:UNIX:NAME[collapsed=false]\r\x1b[0KTITLE
//	\x1b[0Ksection_end:UNIX:NAME\r\x1b[0K
//
// Under GitHub Actions they are ::group::TITLE and ::endgroup:: lines (GitHub
// does not nest groups: an inner group ends the outer one in its view).
// With --log-format json the start and end are log entries with the fields
// section=NAME and section_event=start|end (and seconds at the end).
func (l *Logger) Section(name, title string) (end func()) {
	name = sectionName().ReplaceAllString(name, "_")
	start := time.Now()
	switch {
	case l.sections:
		_ = l.out.writeLines(fmt.Sprintf("\x1b[0Ksection_start:%d:%s[collapsed=false]\r\x1b[0K%s\n", start.Unix(), name, title))
	case l.groups:
		_ = l.out.writeLines("::group::" + title + "\n")
	case l.json:
		l.WithFields(logrus.Fields{"section": name, "section_event": "start"}).Info(title)
	default:
		l.Info("── " + title)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			// Output a command streamed without a final newline belongs
			// inside the section.
			l.out.flush()
			took := time.Since(start)
			switch {
			case l.sections:
				_ = l.out.writeLines(fmt.Sprintf("\x1b[0Ksection_end:%d:%s\r\x1b[0K\n", time.Now().Unix(), name))
			case l.groups:
				l.Infof("%s: done in %s", title, took.Round(time.Millisecond))
				_ = l.out.writeLines("::endgroup::\n")
			case l.json:
				l.WithFields(logrus.Fields{"section": name, "section_event": "end", "seconds": took.Seconds()}).Info(title + " done")
			default:
				l.Infof("── %s: done in %s", title, took.Round(time.Millisecond))
			}
		})
	}
}

// Step opens a section for one step of the current stage: its name is
// prefixed with the logger's stage field so sections of different stages
// never clash in one job log.
func (l *Logger) Step(name string) (end func()) {
	stage, _ := l.Data["stage"].(string)
	id, title := "step_"+name, name
	if stage != "" {
		id, title = stage+"_"+name, stage+": "+name
	}
	return l.Section(id, title)
}

// Writer returns a writer whose lines go to the log (masked), for streaming
// a command's output. Call Flush when the command is done if its output may
// not end with a newline (Section's end func does it too).
func (l *Logger) Writer() io.Writer { return streamWriter{l.out} }

// Flush writes out an unfinished streamed line, masked.
func (l *Logger) Flush() { l.out.flush() }

// sink is where every byte of the log goes: it masks whole lines.
type sink struct {
	mu      sync.Mutex
	w       io.Writer
	m       *Masker
	partial []byte // an unfinished line written through Writer()
}

// maxPartial bounds the unfinished line kept back (a command printing
// megabytes without a newline, a progress bar): past it the line is
// written out except for a tail long enough to hold the start of a secret.
const maxPartial = 64 << 10

// writeLines writes complete lines (a logrus entry, a section marker),
// ending any unfinished streamed line first.
func (s *sink) writeLines(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		text = string(s.partial) + "\n" + text
		s.partial = s.partial[:0]
	}
	_, err := io.WriteString(s.w, s.m.Mask(text))
	return err
}

// stream takes arbitrary chunks and writes the complete lines among them.
func (s *sink) stream(p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, p...)
	i := bytes.LastIndexByte(s.partial, '\n')
	if i < 0 {
		if len(s.partial) <= maxPartial {
			return nil
		}
		masked := s.m.Mask(string(s.partial))
		keep := s.m.longest() - 1
		if keep < 0 {
			keep = 0
		}
		if keep > len(masked) {
			keep = len(masked)
		}
		s.partial = append(s.partial[:0], masked[len(masked)-keep:]...)
		_, err := io.WriteString(s.w, masked[:len(masked)-keep])
		return err
	}
	lines := string(s.partial[:i+1])
	s.partial = append(s.partial[:0], s.partial[i+1:]...)
	_, err := io.WriteString(s.w, s.m.Mask(lines))
	return err
}

func (s *sink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) == 0 {
		return
	}
	_, _ = io.WriteString(s.w, s.m.Mask(string(s.partial))+"\n") // a log line: no one to tell when it cannot be written
	s.partial = s.partial[:0]
}

// lineWriter is logrus's output: each Write is one whole entry.
type lineWriter struct{ s *sink }

func (w lineWriter) Write(p []byte) (int, error) {
	if err := w.s.writeLines(string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// streamWriter is a command's output: chunks cut anywhere.
type streamWriter struct{ s *sink }

func (w streamWriter) Write(p []byte) (int, error) {
	if err := w.s.stream(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Masked is what a secret is replaced with.
const Masked = "[MASKED]"

// Masker replaces known secret values with [MASKED].
type Masker struct {
	mu      sync.RWMutex
	secrets []string // longest first, so a secret containing another is masked whole
}

// MinSecretLen is the shortest value masked: masking "a" or "true" would
// destroy the log and reveal nothing.
const MinSecretLen = 6

// Add registers secret values; empty and very short values are ignored.
// A value is also registered in the form a JSON string gives it (a secret
// with a quote, a backslash or a control character in it), so that JSON
// logs and --json output are masked too.
func (m *Masker) Add(values ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < MinSecretLen {
			continue
		}
		forms := []string{v}
		if strings.Contains(v, "\n") {
			// A multi-line secret (an SSH or TLS key) may reach the log a
			// line at a time: mask each of its lines too.
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); len(line) >= MinSecretLen {
					forms = append(forms, line)
				}
			}
		}
		for _, html := range []bool{true, false} {
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(html)
			if enc.Encode(v) == nil {
				q := strings.TrimSpace(b.String()) // "…" with the quotes
				forms = append(forms, q[1:len(q)-1])
			}
		}
		for _, f := range forms {
			if f != "" && !contains(m.secrets, f) {
				m.secrets = append(m.secrets, f)
			}
		}
	}
	sort.SliceStable(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
}

// Mask returns s with every secret replaced.
func (m *Masker) Mask(s string) string {
	if m == nil {
		return s
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, v := range m.secrets {
		s = strings.ReplaceAll(s, v, Masked)
	}
	return s
}

// Len is the number of secrets known.
func (m *Masker) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.secrets)
}

// Longest is the length of the longest secret form known (0: none): a
// writer that cuts text keeps back Longest()-1 bytes so that no secret is
// cut in two before it is masked.
func (m *Masker) Longest() int {
	if m == nil {
		return 0
	}
	return m.longest()
}

func (m *Masker) longest() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if len(m.secrets) == 0 {
		return 0
	}
	return len(m.secrets[0])
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// MaskedWriter masks every secret in what is written through it, holding
// back an unfinished line until its newline (or Flush) so a secret split
// across writes is still masked. The binary puts one on stdout, for what
// the stages print for people.
type MaskedWriter struct{ s *sink }

// NewMaskedWriter returns a MaskedWriter writing to w.
func NewMaskedWriter(w io.Writer, m *Masker) *MaskedWriter {
	return &MaskedWriter{s: &sink{w: w, m: m}}
}

func (w *MaskedWriter) Write(p []byte) (int, error) {
	if err := w.s.stream(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes out an unfinished line, masked, without adding a newline.
func (w *MaskedWriter) Flush() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if len(w.s.partial) == 0 {
		return nil
	}
	_, err := io.WriteString(w.s.w, w.s.m.Mask(string(w.s.partial)))
	w.s.partial = w.s.partial[:0]
	return err
}
