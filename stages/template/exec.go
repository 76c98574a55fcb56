package template

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pipeline-ci/pipeline/internal/proc"
)

// runCmd runs a program, streaming its output to log (when not nil) and
// keeping the last lines for the error, which names the command.
func runCmd(ctx context.Context, log io.Writer, dir string, env []string, name string, args ...string) (string, error) {
	cmd := proc.Command(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	tail := &tailBuffer{max: 64 << 10}
	var w io.Writer = tail
	if log != nil {
		w = io.MultiWriter(tail, log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err := cmd.Run()
	if err != nil {
		if stop := proc.Stopped(ctx); stop != nil {
			err = stop // "cancelled (SIGTERM)", not "signal: terminated"
		}
		return tail.String(), &CommandError{Cmd: name + " " + strings.Join(args, " "), Err: err, Output: tail.String()}
	}
	return tail.String(), nil
}

// CommandError is a failed command with the end of its output.
type CommandError struct {
	Cmd    string
	Err    error
	Output string
}

func (e *CommandError) Error() string {
	cmd := e.Cmd
	if len(cmd) > 300 {
		cmd = cmd[:300] + "…"
	}
	out := strings.TrimRight(lastLines(e.Output, 30), "\n")
	if out == "" {
		return fmt.Sprintf("%s: %v", cmd, e.Err)
	}
	return fmt.Sprintf("%s: %v\n--- output (last lines) ---\n%s\n--- end of output ---", cmd, e.Err, out)
}

func (e *CommandError) Unwrap() error { return e.Err }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > t.max {
		b := t.buf.Bytes()[t.buf.Len()-t.max:]
		t.buf = *bytes.NewBuffer(append([]byte(nil), b...))
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

func runCmdStdin(ctx context.Context, stdin io.Reader, name string, args ...string) (string, error) {
	cmd := proc.Command(ctx, name, args...)
	cmd.Stdin = stdin
	out, err := cmd.CombinedOutput()
	if err != nil {
		if stop := proc.Stopped(ctx); stop != nil {
			err = stop
		}
		return string(out), &CommandError{Cmd: name + " " + strings.Join(args, " "), Err: err, Output: string(out)}
	}
	return string(out), nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// toolPackages are the Debian packages of the programs the build runs.
var toolPackageNames = []string{"mmdebstrap", "e2fsprogs", "dosfstools", "mtools", "fdisk", "qemu-utils", "bubblewrap", "tar"}

// toolPackages returns the installed version of each tool package, or
// false when this host has no dpkg or lacks one of them.
func toolPackages(ctx context.Context) (map[string]string, bool) {
	out, err := proc.Command(ctx, "dpkg-query", append([]string{"-W", "-f", "${Package} ${Version}\\n"}, toolPackageNames...)...).Output()
	if err != nil {
		return nil, false
	}
	v := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, ver, ok := strings.Cut(line, " "); ok && ver != "" {
			v[name] = ver
		}
	}
	return v, len(v) == len(toolPackageNames)
}
