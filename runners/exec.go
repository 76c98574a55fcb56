package runners

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/pipeline-ci/pipeline/internal/proc"
)

// execRun runs argv on this machine with cmd's stdin and timeout and the
// script as its last argument. It is the common core of the local, chroot
// and container runners, which differ only in the argv that enters the
// target. A program that cannot be started is ErrUnreachable.
func execRun(ctx context.Context, target string, argv []string, cmd Command, extraEnv []string) (Output, error) {
	caller := ctx
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmd.Timeout)
		defer cancel()
	}
	// Its own process group (internal/proc): a timeout or a cancel stops
	// the whole script, not only sh, and whatever it left holding the
	// output pipes cannot keep Wait waiting.
	c := proc.Command(ctx, argv[0], append(argv[1:], Script(cmd))...)
	if extraEnv != nil {
		c.Env = extraEnv
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr, c.Stdin = &stdout, &stderr, cmd.Stdin
	start := time.Now()
	// proc.Start/Wait: the script's group dies with pipeline, however
	// pipeline dies.
	if err := proc.Start(c); err != nil {
		return Output{}, unreachable(target, "start "+argv[0], err)
	}
	err := proc.Wait(c)
	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	if err != nil && ctx.Err() != nil {
		out.TimedOut, out.Exit = true, -1
		if stop := proc.Stopped(caller); stop != nil {
			// The caller gave up (cancelled), the command did not time out.
			return out, fmt.Errorf("%s: %w", target, stop)
		}
		return out, nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.Is(err, exec.ErrWaitDelay):
		// The script exited 0 but left a process (a daemon it started)
		// holding its output: the script's own work is done.
	case errors.As(err, &ee):
		out.Exit = ee.ExitCode()
	default:
		return out, unreachable(target, "run", err)
	}
	return out, nil
}
