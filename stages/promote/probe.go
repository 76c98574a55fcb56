package promote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pipeline-ci/pipeline/internal/errs"
	"github.com/pipeline-ci/pipeline/internal/logging"
	"github.com/pipeline-ci/pipeline/internal/proc"
)

// probeCommand runs the configured test in a directory and turns its exit
// status into a verdict the way `git bisect run` does: 0 good, 125 cannot
// test, 1–127 bad. Anything else — killed by a signal, an exit status above
// 127 (a shell's report of a signal), the timeout, a command that cannot
// start — is an infrastructure error: it says nothing about the tree.
type probeCommand struct {
	Command string
	Timeout time.Duration
	// Env is added to the process environment of the test.
	Env []string
	// Stream, when set, also receives the output as it comes.
	Stream io.Writer
}

// probeRun is one run of the test.
type probeRun struct {
	Verdict  Verdict
	ExitCode int
	Seconds  float64
	Output   []byte // the last maxOutput bytes
}

const maxOutput = 1 << 20

func (pc probeCommand) run(ctx context.Context, dir string, extraEnv ...string) (probeRun, error) {
	if pc.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pc.Timeout)
		defer cancel()
	}
	// In its own process group: a timeout or a cancel stops the whole
	// tree of processes the test started, not only the shell.
	cmd := proc.Command(ctx, "sh", "-c", pc.Command)
	cmd.Dir = dir
	cmd.Env = append(append(cmd.Environ(), pc.Env...), extraEnv...)
	out := &tailBuffer{max: maxOutput}
	var w io.Writer = out
	if pc.Stream != nil {
		w = io.MultiWriter(out, pc.Stream)
	}
	start := time.Now()
	// Judged by the exit of the test's own shell: what it left running in
	// the background is stopped then, whatever the verdict; its group dies
	// with pipeline, however pipeline dies.
	err := proc.RunGroup(cmd, w)
	res := probeRun{Seconds: time.Since(start).Seconds(), Output: out.Bytes(), ExitCode: cmd.ProcessState.ExitCode()}
	switch stop := proc.Stopped(ctx); {
	case errors.Is(stop, proc.ErrTimedOut):
		return res, errs.New(errs.Infra, fmt.Errorf("test %q timed out after %s in %s", pc.Command, pc.Timeout, dir),
			"a timeout says nothing about the commit: raise promote.timeout or make the test faster")
	case stop != nil:
		return res, errs.New(errs.Infra, fmt.Errorf("test %q stopped: %w", pc.Command, stop), "")
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.Verdict = Good
	case errors.As(err, &ee) && ee.Exited() && ee.ExitCode() == 125:
		res.Verdict = Skip
	case errors.As(err, &ee) && ee.Exited() && ee.ExitCode() >= 1 && ee.ExitCode() <= 127:
		res.Verdict = Bad
	case errors.As(err, &ee) && !ee.Exited():
		return res, errs.New(errs.Infra, fmt.Errorf("test %q was killed by a signal (%s)", pc.Command, ee.ProcessState),
			"a signal is not a verdict on the commit: find what killed it (OOM killer? a runner timeout?) and re-run")
	case errors.As(err, &ee):
		return res, errs.New(errs.Infra, fmt.Errorf("test %q exited %d", pc.Command, ee.ExitCode()),
			"exit statuses above 127 mean the test was killed, not that the commit is bad (as in git bisect run); re-run, or make the test exit 1 for a failure")
	default:
		return res, errs.New(errs.Infra, fmt.Errorf("run test %q: %w", pc.Command, err), "check that promote.test is a command sh can run")
	}
	return res, nil
}

// tailBuffer keeps the last max bytes written to it, in at most 2×max
// bytes of memory however long the output or its lines; safe for
// concurrent writers (stdout and stderr of one process).
type tailBuffer struct {
	mu      sync.Mutex
	buf     []byte
	max     int
	dropped bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.dropped = t.dropped || len(t.buf) > 0 || len(p) > t.max
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if len(t.buf)+len(p) > 2*t.max {
		// Drop all but the last max-len(p) bytes: with p they make max.
		keep := t.max - len(p)
		t.buf = t.buf[:copy(t.buf, t.buf[len(t.buf)-keep:])]
		t.dropped = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	dropped := t.dropped
	if len(b) > t.max {
		b, dropped = b[len(b)-t.max:], true
	}
	if dropped {
		return append([]byte("[… earlier output dropped …]\n"), b...)
	}
	return append([]byte(nil), b...)
}

// maxTail bounds the output tail quoted in a report or a comment, in
// bytes, whatever promote.output_tail says in lines: one line may be
// megabytes long.
const maxTail = 16 << 10

// tailLines returns the last n lines of out, at most maxTail bytes of them
// (cut at the start of a character, after "…").
func tailLines(out []byte, n int) string {
	s := strings.TrimRight(string(out), "\n")
	if n <= 0 || s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	tail := strings.Join(lines, "\n")
	if len(tail) > maxTail {
		cut := len(tail) - maxTail
		for cut < len(tail) && !utf8.RuneStart(tail[cut]) {
			cut++
		}
		tail = "…" + tail[cut:]
	}
	return tail
}

// lineWriter passes whole lines, each with a prefix, to w: the output of
// probes running side by side stays readable in one job log ("probe 3 │
// …"), and a BVT of an hour shows its progress as it goes. A line longer
// than maxLine is passed in pieces of about maxLine bytes (the later ones
// marked "… "), masked before it is cut so that no secret is cut in two:
// memory stays bounded whatever the test prints on one line.
type lineWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	mask   *logging.Masker // may be nil: nothing to mask
	buf    []byte
	cont   bool // buf continues a line already partly written
}

// maxLine is the longest piece of a line lineWriter keeps back.
const maxLine = 64 << 10

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		// Take at most what fills buf to maxLine, so that a huge write
		// is never held whole.
		room := max(maxLine-len(l.buf), 1)
		chunk := p[:min(room, len(p))]
		p = p[len(chunk):]
		l.buf = append(l.buf, chunk...)
		for {
			i := bytes.IndexByte(l.buf, '\n')
			if i < 0 {
				break
			}
			if err := l.emit(l.buf[:i+1]); err != nil {
				return 0, err
			}
			l.buf = l.buf[:copy(l.buf, l.buf[i+1:])]
			l.cont = false
		}
		if len(l.buf) >= maxLine {
			if err := l.cut(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// cut writes out all of an unfinished long line but the bytes that could
// be the start of a secret, masked, and keeps those.
func (l *lineWriter) cut() error {
	text := string(l.buf)
	if l.mask != nil {
		text = l.mask.Mask(text)
	}
	keep := max(l.mask.Longest()-1, 0)
	if keep >= len(text) {
		keep = 0
	}
	if err := l.emit([]byte(text[:len(text)-keep] + "\n")); err != nil {
		return err
	}
	l.buf = append(l.buf[:0], text[len(text)-keep:]...)
	l.cont = true
	return nil
}

func (l *lineWriter) emit(line []byte) error {
	prefix := l.prefix
	if l.cont {
		prefix += "… "
	}
	_, err := l.w.Write(append([]byte(prefix), line...))
	return err
}

// Close writes out an unfinished last line.
func (l *lineWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return nil
	}
	err := l.emit(append(l.buf, '\n'))
	l.buf, l.cont = nil, false
	return err
}
