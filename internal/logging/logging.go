// Package logging is the job log: logrus underneath, GitLab collapsible
// sections under GitLab CI, plain lines under Jenkins, colours only on a
// TTY, JSON for machines, and every known secret masked in every line.
package logging

import (
	"fmt"
	"io"
	"regexp"
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
	Color    bool
}

// Logger is the job log. Use Entry (or the logrus methods it forwards) for
// lines and Section for a collapsible group.
type Logger struct {
	*logrus.Entry
	out      io.Writer
	masker   *Masker
	sections bool
	mu       *sync.Mutex
}

// New makes a Logger writing to w. Secrets added to the masker later are
// masked from then on.
func New(w io.Writer, opts Options, masker *Masker) (*Logger, error) {
	if masker == nil {
		masker = &Masker{}
	}
	mw := &maskWriter{w: w, m: masker}
	l := logrus.New()
	l.SetOutput(mw)
	lvl := logrus.InfoLevel
	if opts.Level != "" {
		var err error
		if lvl, err = logrus.ParseLevel(opts.Level); err != nil {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", opts.Level)
		}
	}
	l.SetLevel(lvl)
	switch opts.Format {
	case "", "text":
		l.SetFormatter(&logrus.TextFormatter{ForceColors: opts.Color, DisableColors: !opts.Color, FullTimestamp: true, TimestampFormat: "15:04:05"})
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", opts.Format)
	}
	return &Logger{Entry: logrus.NewEntry(l), out: mw, masker: masker, sections: opts.Sections && opts.Format != "json", mu: &sync.Mutex{}}, nil
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

var sectionName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// Section opens a collapsible section (GitLab) or a header line (elsewhere)
// and returns the function that closes it.
func (l *Logger) Section(name, title string) (end func()) {
	name = sectionName.ReplaceAllString(name, "_")
	start := time.Now()
	if l.sections {
		l.mu.Lock()
		fmt.Fprintf(l.out, "\x1b[0Ksection_start:%d:%s[collapsed=false]\r\x1b[0K%s\n", start.Unix(), name, title)
		l.mu.Unlock()
	} else {
		l.Info("── " + title)
	}
	return func() {
		if l.sections {
			l.mu.Lock()
			fmt.Fprintf(l.out, "\x1b[0Ksection_end:%d:%s\r\x1b[0K\n", time.Now().Unix(), name)
			l.mu.Unlock()
		} else {
			l.Debugf("── %s done in %s", title, time.Since(start).Round(time.Millisecond))
		}
	}
}

// Writer returns a writer whose lines go to the log (masked), for streaming
// a command's output.
func (l *Logger) Writer() io.Writer { return l.out }

// Masker replaces known secret values with [MASKED].
type Masker struct {
	mu      sync.RWMutex
	secrets []string
}

// Add registers secret values; empty and very short values are ignored
// (masking "a" would destroy the log).
func (m *Masker) Add(values ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range values {
		if len(v) >= 4 {
			m.secrets = append(m.secrets, v)
		}
	}
}

// Mask returns s with every secret replaced.
func (m *Masker) Mask(s string) string {
	if m == nil {
		return s
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, v := range m.secrets {
		s = strings.ReplaceAll(s, v, "[MASKED]")
	}
	return s
}

type maskWriter struct {
	w io.Writer
	m *Masker
}

func (mw *maskWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(mw.w, mw.m.Mask(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
