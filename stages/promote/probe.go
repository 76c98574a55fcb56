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

	"github.com/pipeline-ci/pipeline/internal/errs"
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
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err := proc.Run(cmd) // its group dies with pipeline, however pipeline dies
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

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// writers (stdout and stderr of one process).
type tailBuffer struct {
	mu      sync.Mutex
	buf     []byte
	max     int
	dropped bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
		t.dropped = true
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped {
		return append([]byte("[… earlier output dropped …]\n"), t.buf...)
	}
	return append([]byte(nil), t.buf...)
}

// tailLines returns the last n lines of out.
func tailLines(out []byte, n int) string {
	s := strings.TrimRight(string(out), "\n")
	if n <= 0 || s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// lineWriter passes whole lines, each with a prefix, to w: the output of
// probes running side by side stays readable in one job log ("probe 3 │
// …"), and a BVT of an hour shows its progress as it goes.
type lineWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(l.prefix), l.buf[:i+1]...)
		l.buf = l.buf[i+1:]
		if _, err := l.w.Write(line); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close writes out an unfinished last line.
func (l *lineWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return nil
	}
	_, err := l.w.Write(append(append([]byte(l.prefix), l.buf...), '\n'))
	l.buf = nil
	return err
}
