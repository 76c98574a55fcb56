package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	st, ok := readStat(pid)
	return ok && st.state != 'Z' && st.state != 'X'
}

// startTree runs script under sh with stdout and stderr in a buffer (so a
// grandchild holds the pipes) and returns the pid the script wrote into
// the file $PIDFILE once it is there.
func startTree(t *testing.T, ctx context.Context, script string) (*exec.Cmd, int, chan error) {
	t.Helper()
	pidfile := filepath.Join(t.TempDir(), "pid")
	cmd := Command(ctx, "sh", "-c", script)
	cmd.Env = append(os.Environ(), "PIDFILE="+pidfile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(pidfile)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			return cmd, pid, done
		}
		if time.Now().After(deadline) {
			t.Fatalf("the script did not write its grandchild's pid: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCancelStopsTheWholeGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd, grandchild, done := startTree(t, ctx, `sleep 300 & echo $! > "$PIDFILE"; wait`)
	if !alive(grandchild) {
		t.Fatal("the grandchild is not running: the test would prove nothing")
	}
	if st, _ := readStat(grandchild); st.pgrp != cmd.Process.Pid || cmd.Process.Pid == syscall.Getpgrp() {
		t.Fatalf("grandchild in group %d, child %d, test %d: want the child's own group", st.pgrp, cmd.Process.Pid, syscall.Getpgrp())
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Wait returned nil for a cancelled command")
		}
	case <-time.After(Grace + 3*time.Second):
		t.Fatal("Wait still blocked after the grace: the grandchild holds the pipes")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s: sleep dies of SIGTERM at once", took)
	}
	if alive(grandchild) {
		t.Errorf("grandchild %d still runs after Wait returned", grandchild)
	}
	if err := Stopped(ctx); !errors.Is(err, ErrCancelled) || errors.Is(err, ErrTimedOut) || err.Error() != "cancelled" {
		t.Errorf("Stopped = %v, want cancelled", err)
	}
}

func TestSIGTERMIgnoredGetsSIGKILLAfterGrace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Ignored signals stay ignored across exec: sleep ignores SIGTERM too.
	_, grandchild, done := startTree(t, ctx, `trap '' TERM; sleep 300 & echo $! > "$PIDFILE"; wait; wait`)
	start := time.Now()
	select {
	case <-done:
	case <-time.After(Grace + 5*time.Second):
		t.Fatal("Wait still blocked well after the grace")
	}
	took := time.Since(start)
	if took < Grace-time.Second || took > Grace+2*time.Second {
		t.Errorf("Wait returned after %s, want about the grace (%s) after the timeout", took, Grace)
	}
	if alive(grandchild) {
		t.Errorf("grandchild %d still runs", grandchild)
	}
	if err := Stopped(ctx); !errors.Is(err, ErrTimedOut) || errors.Is(err, ErrCancelled) || err.Error() != "timed out" {
		t.Errorf("Stopped = %v, want timed out", err)
	}
}

// A process that left the group (setsid) cannot be stopped with it, but
// must not keep Wait waiting on the pipes it inherited.
func TestWaitDoesNotHangOnEscapedPipes(t *testing.T) {
	_, escaped, done := startTree(t, context.Background(), `setsid sleep 300 & echo $! > "$PIDFILE"`)
	start := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, exec.ErrWaitDelay) {
			t.Errorf("Wait = %v, want exec.ErrWaitDelay", err)
		}
	case <-time.After(WaitDelay + 5*time.Second):
		t.Fatal("Wait hangs on the pipes of a process outside the group")
	}
	if took := time.Since(start); took > WaitDelay+2*time.Second {
		t.Errorf("took %s", took)
	}
	syscall.Kill(escaped, syscall.SIGKILL)
}

func TestStoppedNamesTheSignal(t *testing.T) {
	if Stopped(context.Background()) != nil {
		t.Error("Stopped of a live context is not nil")
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&Interrupt{Signal: syscall.SIGTERM})
	child, c2 := context.WithTimeout(ctx, time.Hour) // a command's own timeout under the run's context
	defer c2()
	for _, c := range []context.Context{ctx, child} {
		err := Stopped(c)
		if err == nil || err.Error() != "cancelled (SIGTERM)" || !errors.Is(err, ErrCancelled) || !errors.Is(err, context.Canceled) {
			t.Errorf("Stopped = %v, want cancelled (SIGTERM)", err)
		}
		if s := Interrupted(c); s != syscall.SIGTERM {
			t.Errorf("Interrupted = %v", s)
		}
	}
	other, c3 := context.WithCancelCause(context.Background())
	c3(errors.New("component b failed"))
	if err := Stopped(other); err.Error() != "cancelled: component b failed" {
		t.Errorf("Stopped = %q", err)
	}
	if Interrupted(other) != nil {
		t.Error("Interrupted names a signal for a plain cancellation")
	}
}

func TestSignalContext(t *testing.T) {
	ctx, stop := SignalContext(context.Background(), syscall.SIGTERM)
	defer stop()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	if err := Stopped(ctx); err.Error() != "cancelled (SIGTERM)" {
		t.Errorf("Stopped = %v", err)
	}
	// A second signal during the clean-up is caught, not fatal.
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
}

func TestParseStat(t *testing.T) {
	st, ok := parseStat("1234 (my (odd) prog) S 1 1230 1230 0 -1 4194560 ...")
	if !ok || st.state != 'S' || st.ppid != 1 || st.pgrp != 1230 {
		t.Errorf("parseStat = %+v, %v", st, ok)
	}
	if _, ok := parseStat("garbage"); ok {
		t.Error("garbage parsed")
	}
}

// TestMain doubles as a pipeline that starts a child and is then killed
// outright (PROC_TEST_HELPER=start-child): see TestChildDiesWithUs.
func TestMain(m *testing.M) {
	if os.Getenv("PROC_TEST_HELPER") == "start-child" {
		cmd := Command(context.Background(), "sleep", "3605")
		if err := cmd.Start(); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString(strconv.Itoa(cmd.Process.Pid) + "\n")
		time.Sleep(time.Hour) // not select{}: with no goroutine left the runtime would exit (deadlock)
	}
	if os.Getenv("PROC_TEST_HELPER") == "start-tree" {
		// A test command that leaves a process of its own running in its
		// group: the grandchild's pid on stdout.
		// The pid is passed on only once Start has returned (the group is
		// on the keeper's list): the test kills us as soon as it reads it.
		cmd := Command(context.Background(), "sh", "-c", "sleep 3606 & echo $!; wait")
		out, err := cmd.StdoutPipe()
		if err != nil {
			os.Exit(3)
		}
		if err := Start(cmd); err != nil {
			os.Exit(3)
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		os.Stdout.WriteString(line)
		time.Sleep(time.Hour) // as above: not select{}
	}
	os.Exit(m.Run())
}

// A pipeline killed with SIGKILL cannot stop its children's groups: the
// kernel must (Pdeathsig).
func TestChildDiesWithUs(t *testing.T) {
	diesWithKilledHelper(t, "start-child", 3*time.Second)
}

// A pipeline killed with SIGKILL: what its child started dies too, not
// only the child (the keeper kills the group).
func TestGroupDiesWithUs(t *testing.T) {
	diesWithKilledHelper(t, "start-tree", 5*time.Second)
}

// diesWithKilledHelper runs this test binary as a pipeline (TestMain's
// PROC_TEST_HELPER=mode) that prints the pid of a process it started,
// kills it outright, and requires that process gone within grace.
func diesWithKilledHelper(t *testing.T, mode string, grace time.Duration) {
	t.Helper()
	helper := exec.Command(os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), "PROC_TEST_HELPER="+mode)
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 32)
	n, _ := out.Read(line)
	pid, err := strconv.Atoi(strings.TrimSpace(string(line[:n])))
	if err != nil || !alive(pid) {
		helper.Process.Kill()
		t.Fatalf("%s: the helper's process is not running (%q, %v)", mode, line[:n], err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	helper.Process.Kill()
	helper.Wait()
	deadline := time.Now().Add(grace)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: process %d outlived the killed pipeline", mode, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The keeper kills the groups listed when its pipe closes, and not those
// taken off the list (waited for: their ids may be reused).
func TestKeeperKillsOnlyListed(t *testing.T) {
	var groups []*exec.Cmd
	for i := 0; i < 3; i++ {
		c := exec.Command("sleep", "3607")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		go c.Wait()
		t.Cleanup(func() { syscall.Kill(-c.Process.Pid, syscall.SIGKILL) })
		groups = append(groups, c)
	}
	a, b, c := groups[0].Process.Pid, groups[1].Process.Pid, groups[2].Process.Pid
	k := exec.Command("/bin/sh", "-c", keeperScript)
	k.Stdin = strings.NewReader(fmt.Sprintf("+ %d\n+ %d\n+ %d\n- %d\n", a, b, c, b))
	if out, err := k.CombinedOutput(); err != nil {
		t.Fatalf("keeper: %v: %s", err, out)
	}
	deadline := time.Now().Add(3 * time.Second)
	for (GroupAlive(a) || GroupAlive(c)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if GroupAlive(a) || GroupAlive(c) {
		t.Error("a listed group outlived the keeper's EOF")
	}
	if !GroupAlive(b) {
		t.Error("a group taken off the list was killed")
	}
}
