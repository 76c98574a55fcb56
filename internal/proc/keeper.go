package proc

import (
	"io"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
)

// The keeper: should pipeline be killed outright (SIGKILL: a CI runner
// giving up on a cancelled job, the OOM killer), the kernel's Pdeathsig
// kills each child it started, but not what that child started in turn: a
// test's helpers, make's compilers, a BVT's background server would run on,
// orphaned, in the child's process group. So pipeline keeps one small
// process beside it, the keeper: a shell reading the ids of the process
// groups that are running from a pipe only pipeline holds. When pipeline
// ends, however it ends, the kernel closes the pipe; the keeper reads EOF
// and kills every group still listed. A group is listed from Start until
// its command was waited for (Wait), so a group pipeline is done with is
// never killed later, even should its id be reused.
//
// Start, Wait and Run are for commands that start process trees of their
// own (a team's test or build command); a git or a cp needs no keeper.

const keeperScript = `g=' '
while read -r op id; do
	case "$op" in
	+) g="$g$id " ;;
	-) case "$g" in *" $id "*) g="${g%% $id *} ${g#* $id }" ;; esac ;;
	esac
done
for id in $g; do kill -KILL -"$id" 2>/dev/null; done
`

var keeper struct {
	once sync.Once
	mu   sync.Mutex
	w    io.WriteCloser // nil when the keeper could not start
}

// keep tells the keeper that group pgid runs (add) or is done.
func keep(pgid int, add bool) {
	keeper.once.Do(startKeeper)
	keeper.mu.Lock()
	defer keeper.mu.Unlock()
	if keeper.w == nil {
		return
	}
	op := "- "
	if add {
		op = "+ "
	}
	if _, err := io.WriteString(keeper.w, op+strconv.Itoa(pgid)+"\n"); err != nil {
		keeper.w = nil // the keeper is gone: Pdeathsig still covers the children
	}
}

func startKeeper() {
	cmd := exec.Command("/bin/sh", "-c", keeperScript) //nolint:noctx // lives as long as pipeline itself: no context ends it
	// In a group of its own: a Ctrl-C at the terminal, or Terminate of
	// some child's group, does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		return
	}
	if err := cmd.Start(); err != nil {
		return
	}
	// Reaped when it ends (at our exit it outlives us; init reaps it).
	go func() { _ = cmd.Wait() }()
	keeper.w = w
}

// Start starts cmd (made by Command or given Own) and lists its process
// group with the keeper, so that the group dies with pipeline even when
// pipeline is killed outright. Wait for it with Wait. (Killed between the
// start and the listing, a window of one pipe write, the group is not
// listed; Pdeathsig still stops the direct child.)
func Start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	keep(cmd.Process.Pid, true)
	return nil
}

// Wait waits for cmd (started with Start) and takes its group off the
// keeper's list.
func Wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	keep(cmd.Process.Pid, false)
	return err
}

// Run is Start then Wait.
func Run(cmd *exec.Cmd) error {
	if err := Start(cmd); err != nil {
		return err
	}
	return Wait(cmd)
}
