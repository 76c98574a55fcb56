// Package gitkill lets a test kill a real run of a stage in the middle of
// a git step, the way a CI cancel does: the stage's whole process group and
// the git it is running, with git's locks held.
//
// The stage runs in a child process (the test binary itself, see Child and
// Helper) with a process group of its own. Two kill points are counted:
//
//   - every git the stage starts: a stand-in `git` first on PATH counts its
//     calls and logs their arguments, and at call N kills the stage's group
//     and its own (before the real git runs);
//   - every reference transaction in the clone: a reference-transaction hook
//     counts the "prepared" ones and at the Nth kills the stage's group and
//     the git holding the ref locks (its own group), so the locks stay.
//
// An uninterrupted run counts both; the test then kills a run at each.
package gitkill

import (
	"bufio"
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

	"github.com/pipeline-ci/pipeline/internal/proc"
)

const wrapper = `#!/bin/sh
# git, counted (package gitkill).
d="$GITKILL_DIR"
n=$(( $(cat "$d/calls" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/calls"
printf '%s %s\n' "$n" "$*" >> "$d/log"
if [ "$n" = "${GITKILL_CALL:-0}" ]; then
	echo "$$" > "$d/killed"
	kill -KILL -"$GITKILL_PGID" 2>/dev/null
	kill -KILL 0
fi
exec "$GITKILL_REAL" "$@"
`

const hook = `#!/bin/sh
# reference-transaction hook (package gitkill).
refs=$(cut -d' ' -f3 | tr '\n' ' ')
[ -n "$GITKILL_DIR" ] && [ "$1" = prepared ] || exit 0
d="$GITKILL_DIR"
n=$(( $(cat "$d/refs" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/refs"
# which git call, in which work tree, on which refs
printf '%s %s %s\n' "$(cat "$d/calls" 2>/dev/null || echo 0)" "${PWD##*/}" "$refs" >> "$d/reflog"
if [ "$n" = "${GITKILL_REF:-0}" ]; then
	cut -d' ' -f5 /proc/$$/stat > "$d/killed"
	kill -KILL -"$GITKILL_PGID" 2>/dev/null
	kill -KILL 0
fi
exit 0
`

// Killer is the stand-in git and the hook, installed for one test.
type Killer struct {
	t    testing.TB
	real string // the real git
	bin  string // holds the stand-in git
	dir  string // counters and log of the current run
}

// New writes the stand-in git into a temp dir and the hook into the
// clone's hooks directory (the clone must not set core.hooksPath).
func New(t testing.TB, clone string) *Killer {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	k := &Killer{t: t, real: real, bin: t.TempDir()}
	if err := os.WriteFile(filepath.Join(k.bin, "git"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	k.writeHook(clone)
	return k
}

func (k *Killer) writeHook(clone string) {
	k.t.Helper()
	out, err := exec.Command("git", "-C", clone, "rev-parse", "--path-format=absolute", "--git-common-dir").Output()
	if err != nil {
		k.t.Fatal(err)
	}
	hooks := filepath.Join(strings.TrimSpace(string(out)), "hooks")
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		k.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hooks, "reference-transaction"), []byte(hook), 0o755); err != nil {
		k.t.Fatal(err)
	}
}

// Point is where a run is killed: at git call Call, or at reference
// transaction Ref (1-based; 0: not at all).
type Point struct{ Call, Ref int }

func (p Point) String() string {
	if p.Ref > 0 {
		return fmt.Sprintf("ref transaction %d", p.Ref)
	}
	return fmt.Sprintf("git call %d", p.Call)
}

// Count is what an uninterrupted run did.
type Count struct {
	Calls []string // the arguments of every git call, in order
	Refs  int      // reference transactions
	// RefKinds says, for every reference transaction, in which git call,
	// in which work tree and on which refs it happened.
	RefKinds []string
}

// Run runs child (made by Child) killed at p, and returns what it counted
// and whether it was killed. It waits until the killed git's group is gone.
func (k *Killer) Run(child *exec.Cmd, p Point) (Count, bool) {
	k.t.Helper()
	k.dir = k.t.TempDir()
	child.Env = append(child.Env,
		"PATH="+k.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GITKILL_DIR="+k.dir, "GITKILL_REAL="+k.real,
		"GITKILL_CALL="+strconv.Itoa(p.Call), "GITKILL_REF="+strconv.Itoa(p.Ref))
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := child.CombinedOutput()
	killed := false
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			killed = true
		}
	}
	if !killed && p != (Point{}) {
		k.t.Logf("run (%s) was not killed: %v:\n%s", p, err, out)
	}
	// The killed git's group: gone before anyone looks at the clone.
	if b, err := os.ReadFile(filepath.Join(k.dir, "killed")); err == nil {
		if pgid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			deadline := time.Now().Add(5 * time.Second)
			for proc.GroupAlive(pgid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	if pgid := child.Process.Pid; proc.GroupAlive(pgid) {
		deadline := time.Now().Add(5 * time.Second)
		for proc.GroupAlive(pgid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return k.count(), killed
}

func (k *Killer) count() Count {
	var c Count
	if b, err := os.ReadFile(filepath.Join(k.dir, "refs")); err == nil {
		c.Refs, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile(filepath.Join(k.dir, "reflog")); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			call, rest, _ := strings.Cut(l, " ")
			kind := "?"
			if n, err := strconv.Atoi(call); err == nil && n > 0 {
				kind = callKind(c.callAt(k.dir, n))
			}
			c.RefKinds = append(c.RefKinds, kind+" "+rest)
		}
	}
	f, err := os.Open(filepath.Join(k.dir, "log"))
	if err != nil {
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, args, _ := strings.Cut(sc.Text(), " ")
		c.Calls = append(c.Calls, args)
	}
	return c
}

// Points are the kill points of an uninterrupted run that change what is on
// disk: every reference transaction, and every git call but those that
// only read (a kill before a read leaves what a kill before the next
// writing call leaves, so those are not tried again).
func Points(c Count) []Point {
	var ps []Point
	for i, args := range c.Calls {
		if writes(args) {
			ps = append(ps, Point{Call: i + 1})
		}
	}
	for i := 1; i <= c.Refs; i++ {
		ps = append(ps, Point{Ref: i})
	}
	return ps
}

// Kinds keeps the first point of each kind: of the git calls, the first
// of each command ("worktree add", "checkout --quiet"); of the reference
// transactions, the first of each command, work tree and refs ("worktree
// add" on the HEAD of probe-1, "push" on refs/remotes/origin/master). A
// kill before a second checkout leaves what a kill before the first one
// does, in another commit's tree. Every point costs two runs of the stage,
// so CI runs these; GITKILL_ALL=1 tries every point.
func Kinds(c Count, ps []Point) []Point {
	if os.Getenv("GITKILL_ALL") != "" {
		return ps
	}
	seen := map[string]bool{}
	var out []Point
	for _, p := range ps {
		key := ""
		switch {
		case p.Call > 0:
			key = "call " + callKind(c.Calls[p.Call-1])
		case p.Ref > 0 && p.Ref <= len(c.RefKinds):
			key = "ref " + c.RefKinds[p.Ref-1]
		}
		if key != "" && seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, p)
	}
	return out
}

// callKind is a git call's command and first argument.
func callKind(args string) string {
	f := strings.Fields(args)
	if len(f) > 2 {
		f = f[:2]
	}
	return strings.Join(f, " ")
}

// callAt reads the arguments of git call n from the run's log.
func (c Count) callAt(dir string, n int) string {
	b, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		num, args, _ := strings.Cut(l, " ")
		if num == strconv.Itoa(n) {
			return args
		}
	}
	return ""
}

// readOnly are the git commands the stages run that change nothing on disk.
var readOnly = map[string]bool{
	"rev-parse": true, "log": true, "ls-remote": true, "merge-base": true, "cherry": true,
	"config": true, "status": true, "show": true, "diff": true, "symbolic-ref": true,
	"for-each-ref": true, "remote": true, "describe": true, "rev-list": true,
	"cat-file": true, "interpret-trailers": true, "patch-id": true, "diff-tree": true, "ls-files": true,
}

func writes(args string) bool {
	f := strings.Fields(args)
	// Skip global options (-C dir, -c k=v, --no-pager).
	for len(f) > 0 && strings.HasPrefix(f[0], "-") {
		if f[0] == "-C" || f[0] == "-c" {
			f = f[1:]
		}
		f = f[1:]
	}
	if len(f) == 0 {
		return false
	}
	return !readOnly[f[0]]
}

// Child returns a command that runs the test binary as the helper named
// name (see Helper), with env added.
func Child(name string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "GITKILL_HELPER="+name), env...)
	return cmd
}

// Helper returns the helper name when the test binary was started by
// Child; TestMain then runs the stage and exits. It records the process
// group the stand-in git and the hook are to kill.
func Helper() string {
	name := os.Getenv("GITKILL_HELPER")
	if name != "" {
		os.Setenv("GITKILL_PGID", strconv.Itoa(syscall.Getpgrp()))
	}
	return name
}
