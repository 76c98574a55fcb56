package proc

import (
	"io"
	"os"
	"os/exec"
	"time"
)

// RunGroup runs cmd (made by Command, not started) with its stdout and
// stderr both copied to out, and returns Wait's error: the exit of the
// command's own process decides, not the end of its output. When that
// process ends, whatever it left running in its process group (a BVT's
// `sleep 300 &`, a server it forgot to stop) is stopped (Terminate), and
// the output of the group is read to its end. A process that left the
// group and still holds the output is given WaitDelay, then its pipe is
// closed: RunGroup never hangs on it.
//
// exec.Cmd alone waits for the output pipe to close, which a background
// child holding it never does: Wait then fails with ErrWaitDelay after
// WaitDelay, and the command's own exit status is lost in an error.
func RunGroup(cmd *exec.Cmd, out io.Writer) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	// An *os.File: the child writes to it directly, and Wait does not wait
	// for anyone else holding it.
	cmd.Stdout, cmd.Stderr = w, w
	if err := Start(cmd); err != nil { // the keeper's list: killed should pipeline die
		r.Close()
		w.Close()
		return err
	}
	w.Close() // the child's copies are the only writers now
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, r)
	}()
	err = cmd.Wait()
	_ = Terminate(cmd.Process) // what is left of its group; ErrProcessDone when nothing is
	keep(cmd.Process.Pid, false)
	select {
	case <-copied:
	case <-time.After(WaitDelay):
		r.Close() // a process outside the group holds the pipe
		<-copied
	}
	r.Close()
	return err
}
