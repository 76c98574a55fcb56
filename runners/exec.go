package runners

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// execRun runs argv on this machine with cmd's stdin and timeout and the
// script as its last argument. It is the common core of the local, chroot
// and container runners, which differ only in the argv that enters the
// target. A program that cannot be started is ErrUnreachable.
func execRun(ctx context.Context, target string, argv []string, cmd Command, extraEnv []string) (Output, error) {
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmd.Timeout)
		defer cancel()
	}
	c := exec.Command(argv[0], append(argv[1:], Script(cmd))...)
	if extraEnv != nil {
		c.Env = extraEnv
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr, c.Stdin = &stdout, &stderr, cmd.Stdin
	// Own process group, so a timeout kills the whole script, not only sh.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := c.Start(); err != nil {
		return Output{}, unreachable(target, "start "+argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
	timedOut := false
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		err = <-done
		timedOut = true
	}
	out := Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), Duration: time.Since(start)}
	if timedOut {
		out.TimedOut, out.Exit = true, -1
		if cmd.Timeout == 0 || time.Since(start) < cmd.Timeout {
			// The caller gave up (cancelled), the command did not time out.
			return out, fmt.Errorf("%s: %w", target, ctx.Err())
		}
		return out, nil
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		out.Exit = ee.ExitCode()
	default:
		return out, unreachable(target, "run", err)
	}
	return out, nil
}
