// Package proc starts every child process of pipeline (git, the build
// components' commands, promote's test, the template's tools, qemu, the
// runners' execs) the one same way, so that stopping a run stops
// everything it started:
//
//   - each child leads a process group of its own, so whatever it starts
//     (make and its compilers, a test's helpers, ssh under git) can be
//     signalled together, and a Ctrl-C at a terminal reaches pipeline only,
//     which then stops its children in order;
//   - when the command's context ends (cancelled or timed out), the whole
//     group gets SIGTERM, then SIGKILL after Grace (see Terminate for why
//     not SIGKILL at once), and Wait returns only once the group is gone;
//   - should pipeline die without a chance to clean up (SIGKILL), the
//     kernel kills its direct children (Pdeathsig), and the keeper
//     (keeper.go) kills the whole groups of the commands started with
//     Start or Run — what a test or a build started goes too;
//   - WaitDelay bounds the wait for pipes still held by a process that left
//     the group (a daemon that called setsid): Wait never hangs on them;
//   - Stopped tells "cancelled" (SIGTERM, Ctrl-C, a failing sibling) from
//     "timed out", and SignalContext makes a signal the named cause of a
//     cancellation ("cancelled (SIGTERM)", not "context canceled").
package proc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// Grace is how long a process group has between SIGTERM and SIGKILL.
// Three seconds let git remove its lock files and a build tool its
// temporary files; GitLab Runner gives a cancelled job's script more than
// that before it kills it outright.
const Grace = 3 * time.Second

// WaitDelay is how long Wait waits for the output pipes after the group
// was stopped (or after the command exited), when something outside the
// group still holds them.
const WaitDelay = Grace + 2*time.Second

// Command is exec.CommandContext with the process-group handling of this
// package: the child leads its own group, the end of ctx stops the whole
// group (Terminate), and Wait never hangs on pipes (WaitDelay). Set
// SysProcAttr fields on the result rather than replacing it.
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	Own(cmd)
	return cmd
}

// Own gives cmd, not started yet and made with exec.CommandContext, the
// handling Command gives: for a Cmd built elsewhere.
func Own(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	// Its own group no longer dies with ours: should pipeline itself be
	// killed outright (SIGKILL, a panic), the kernel kills the child.
	// (Go delivers it when the forking thread exits; the runtime keeps its
	// threads, and pipeline locks none.)
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.Cancel = func() error { return Terminate(cmd.Process) }
	cmd.WaitDelay = WaitDelay
}

// Terminate stops the process group p leads: SIGTERM, then SIGKILL to what
// is left after Grace. It returns once the group is gone (or a second after
// the SIGKILL, for processes stuck in the kernel), so when Wait returns
// nothing of the command runs any more. os.ErrProcessDone: the group was
// already gone.
//
// SIGTERM first, not SIGKILL: git killed outright leaves index.lock or a
// ref lock behind and the re-run of a cancelled job fails on it; qemu,
// make and dpkg-buildpackage clean up on SIGTERM. What ignores SIGTERM
// still dies within Grace.
func Terminate(p *os.Process) error {
	if p == nil {
		return os.ErrProcessDone
	}
	pgid := p.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	if waitGone(pgid, Grace) {
		return nil
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitGone(pgid, time.Second)
	return nil
}

// Kill stops the process group p leads at once (SIGKILL), for an explicit
// "stop now" (Runner.Close, VM.Kill) rather than a cancellation.
func Kill(p *os.Process) error {
	if p == nil {
		return os.ErrProcessDone
	}
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	return nil
}

// waitGone polls until no process is left in group pgid (zombies waiting
// for their parent to reap them do not count) or d has passed; it reports
// whether the group is gone.
func waitGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !GroupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// GroupAlive reports whether a process other than a zombie is left in
// group pgid.
func GroupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	// kill(2) counts zombies too; /proc tells them apart.
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		pid := atoi(e.Name())
		if pid <= 0 {
			continue
		}
		st, ok := readStat(pid)
		if ok && st.pgrp == pgid && st.state != 'Z' && st.state != 'X' {
			return true
		}
	}
	return false
}

// ErrCancelled and ErrTimedOut are what Stopped's errors are (errors.Is):
// the run was stopped from outside, or a command outlived its time.
var (
	ErrCancelled = errors.New("cancelled")
	ErrTimedOut  = errors.New("timed out")
)

// Stopped says why ctx ended, or nil while it has not: an error that is
// ErrTimedOut when a deadline passed, else ErrCancelled, and reads
// "timed out", "cancelled (SIGTERM)" (the signal SignalContext received)
// or "cancelled: CAUSE".
func Stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(ctx)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &stopped{kind: ErrTimedOut, cause: cause}
	}
	return &stopped{kind: ErrCancelled, cause: cause}
}

// IsStopped reports whether err is exactly what Stopped returns, with
// nothing said around it: callers then need not repeat it.
func IsStopped(err error) bool {
	_, ok := err.(*stopped) //nolint:errorlint // exactly, not wrapped: see the doc comment
	return ok
}

type stopped struct {
	kind  error // ErrCancelled or ErrTimedOut
	cause error // context.Cause
}

func (s *stopped) Error() string {
	var in *Interrupt
	switch {
	case errors.As(s.cause, &in):
		return in.Error()
	case s.cause == nil || s.cause == context.Canceled || s.cause == context.DeadlineExceeded: //nolint:errorlint // the bare sentinels only: a wrapped cause has more to say
		return s.kind.Error()
	}
	return s.kind.Error() + ": " + s.cause.Error()
}

func (s *stopped) Is(target error) bool { return target == s.kind }
func (s *stopped) Unwrap() error        { return s.cause }

// Interrupt is the cause of a context SignalContext cancelled.
type Interrupt struct{ Signal os.Signal }

func (i *Interrupt) Error() string { return "cancelled (" + SignalName(i.Signal) + ")" }

// Is makes an interrupt a cancellation for errors.Is, as the plain
// context.Canceled it replaces.
func (i *Interrupt) Is(target error) bool {
	return target == ErrCancelled || target == context.Canceled
}

// Interrupted returns the signal that cancelled ctx (through
// SignalContext), or nil.
func Interrupted(ctx context.Context) os.Signal {
	var in *Interrupt
	if ctx.Err() != nil && errors.As(context.Cause(ctx), &in) {
		return in.Signal
	}
	return nil
}

// SignalContext is signal.NotifyContext with the signal as the cause:
// context.Cause(ctx) is an *Interrupt. After the first signal, further
// ones are caught too (and ignored), so that the bounded clean-up — the
// children's process groups stopped, final statuses posted — is not cut
// short; stop releases them.
func SignalContext(parent context.Context, sigs ...os.Signal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(&Interrupt{Signal: s})
		case <-done:
		}
	}()
	stop := func() {
		select {
		case <-done:
		default:
			close(done)
		}
		signal.Stop(ch)
		cancel(context.Canceled)
	}
	return ctx, stop
}

// SignalName is "SIGTERM" for syscall.SIGTERM (Go says "terminated").
func SignalName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGKILL:
		return "SIGKILL"
	case nil:
		return "no signal"
	}
	return s.String()
}
