package e2e

// Cancelling a job, as GitLab does (SIGTERM to the job's process): the
// real binary is stopped mid-build, mid-probe and mid-boot. Each time no
// process it started may be left (found by a marker in the environment
// every child inherits), the stage's final commit status on the fake
// GitLab must be "canceled", the error must say "cancelled (SIGTERM)"
// with exit 3, and a re-run must work.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
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

	"github.com/pipeline-ci/pipeline/gitops/forgetest"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/stages/template/templatetest"
	"golang.org/x/crypto/ssh"
)

// cancelJob is one CI job's world: a repository, a fake GitLab, and the
// environment of the job, with a marker that every process the job starts
// inherits.
type cancelJob struct {
	t      *testing.T
	dir    string // the repository
	tmp    string // outside the repository: HANG, READY
	forge  *forgetest.Server
	marker string
	env    []string
}

func newCancelJob(t *testing.T) *cancelJob {
	t.Helper()
	testutil.NeedTool(t, "git")
	root := t.TempDir()
	j := &cancelJob{t: t, dir: filepath.Join(root, "repo"), tmp: root,
		marker: fmt.Sprintf("%s-%d-%d", t.Name(), os.Getpid(), time.Now().UnixNano())}
	j.forge = forgetest.New(t, Token)
	j.forge.GitLab().AddProject(42, "appliance/os")
	j.env = append(os.Environ(),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+root, "NO_COLOR=1", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com",
		"FORGE_URL="+j.forge.GitLabURL(), "PIPELINE_TOKEN="+Token,
		"HANG="+filepath.Join(root, "hang"), "READY="+filepath.Join(root, "ready"),
		"PIPELINE_CANCEL_TEST_MARKER="+j.marker)
	if err := os.MkdirAll(j.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return j
}

// files writes name → content pairs into the repository.
func (j *cancelJob) files(kv ...string) {
	j.t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		p := filepath.Join(j.dir, kv[i])
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(kv[i+1]), 0o644); err != nil {
			j.t.Fatal(err)
		}
	}
}

// sh runs a shell command in dir with the job's environment.
func (j *cancelJob) sh(dir, script string) string {
	j.t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir, cmd.Env = dir, j.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		j.t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitlabJob is the CI environment of a GitLab job on branch at sha.
func (j *cancelJob) gitlabJob(branch, sha string) {
	j.env = append(j.env, "GITLAB_CI=true", "CI_COMMIT_SHA="+sha, "CI_COMMIT_BRANCH="+branch,
		"CI_PROJECT_ID=42", "CI_JOB_URL=https://gitlab.example.com/appliance/os/-/jobs/7")
}

// run is a started `pipeline ARGS...`.
type run struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan error
}

func (j *cancelJob) start(args ...string) *run {
	j.t.Helper()
	r := &run{done: make(chan error, 1)}
	r.cmd = exec.Command(filepath.Join(binDir, "pipeline"), args...)
	r.cmd.Dir, r.cmd.Env = j.dir, j.env
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		j.t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	j.t.Cleanup(func() { r.cmd.Process.Kill() })
	return r
}

// exitCode waits for the run (at most timeout) and returns its exit code.
func (j *cancelJob) exitCode(r *run, timeout time.Duration) int {
	j.t.Helper()
	select {
	case err := <-r.done:
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee) && ee.Exited():
			return ee.ExitCode()
		}
		j.t.Fatalf("pipeline did not exit normally: %v\nstderr:\n%s", err, r.stderr.String())
	case <-time.After(timeout):
		j.t.Fatalf("pipeline still running after %s\nstderr:\n%s", timeout, r.stderr.String())
	}
	return -1
}

// waitFor waits until cond holds, failing with what after timeout.
func (j *cancelJob) waitFor(r *run, what string, timeout time.Duration, cond func() bool) {
	j.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		select {
		case err := <-r.done:
			j.t.Fatalf("pipeline ended (%v) before %s\nstdout:\n%s\nstderr:\n%s", err, what, r.stdout.String(), r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			j.t.Fatalf("no %s after %s\nstderr:\n%s", what, timeout, r.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// procs lists the live processes (not zombies) that carry the job's
// marker in their environment: everything the job started, whatever its
// process group.
func (j *cancelJob) procs() []string {
	j.t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		j.t.Fatal(err)
	}
	want := []byte("PIPELINE_CANCEL_TEST_MARKER=" + j.marker + "\x00")
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !bytes.Contains(environ, want) {
			continue
		}
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, fmt.Sprintf("%d %s", pid, bytes.ReplaceAll(bytes.TrimRight(cmdline, "\x00"), []byte{0}, []byte{' '})))
	}
	return out
}

// has reports whether one of the job's processes runs a command line
// containing s.
func (j *cancelJob) has(s string) bool {
	for _, p := range j.procs() {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// sigterm cancels the run as GitLab does and checks what a cancel must
// leave: exit 3, "cancelled (SIGTERM)" said, no process behind, and the
// stage's last commit status "canceled".
func (j *cancelJob) sigterm(r *run, stage string) {
	j.t.Helper()
	if len(j.procs()) < 2 {
		j.t.Fatalf("before the cancel: %d marked processes, want pipeline and its children: the check would prove nothing", len(j.procs()))
	}
	j.t.Logf("before SIGTERM:\n  %s", strings.Join(j.procs(), "\n  "))
	start := time.Now()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		j.t.Fatal(err)
	}
	code := j.exitCode(r, 60*time.Second)
	j.t.Logf("pipeline exited %d %s after SIGTERM", code, time.Since(start).Round(time.Millisecond))
	j.t.Logf("its last words:\n%s", lastLines(r.stderr.String(), 6))
	if code != 3 {
		j.t.Errorf("exit code %d after SIGTERM, want 3\nstderr:\n%s", code, r.stderr.String())
	}
	stderr := r.stderr.String()
	if !strings.Contains(stderr, "pipeline: "+stage+": cancelled (SIGTERM)") || strings.Contains(stderr, "context canceled") {
		j.t.Errorf("stderr does not say %q (or says context canceled):\n%s", "pipeline: "+stage+": cancelled (SIGTERM)", stderr)
	}
	// The group is stopped before pipeline exits; allow the kernel a
	// moment to finish the last SIGKILL.
	var left []string
	for i := 0; i < 20; i++ {
		if left = j.procs(); len(left) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		j.t.Errorf("processes left behind after the cancel:\n  %s", strings.Join(left, "\n  "))
		for _, p := range left {
			pid, _ := strconv.Atoi(strings.Fields(p)[0])
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if last := j.lastStatus("pipeline/" + stage); last != "canceled" {
		j.t.Errorf("last status of pipeline/%s is %q, want canceled; statuses:\n%s", stage, last, j.statuses())
	}
	// The run's JSON summary is written too, and says what happened.
	var sum struct {
		ExitCode int `json:"exit_code"`
		Results  []struct {
			Stage, Outcome, Summary string
		} `json:"results"`
	}
	b, err := os.ReadFile(filepath.Join(j.dir, ".pipeline", "reports", "pipeline.json"))
	if err == nil {
		err = json.Unmarshal(b, &sum)
	}
	if err != nil || sum.ExitCode != 3 || len(sum.Results) == 0 || sum.Results[len(sum.Results)-1].Outcome != "cancelled" ||
		sum.Results[len(sum.Results)-1].Summary != "cancelled (SIGTERM)" {
		j.t.Errorf("summary after the cancel (%v):\n%s", err, b)
	}
}

// lastStatus is the state of the newest status named name.
func (j *cancelJob) lastStatus(name string) string {
	last := ""
	for _, s := range j.forge.GitLab().Statuses("42") {
		if s.Name == name {
			last = s.Status
		}
	}
	return last
}

// statuses dumps the fake GitLab's statuses, one per line.
func (j *cancelJob) statuses() string {
	var b strings.Builder
	for _, s := range j.forge.GitLab().Statuses("42") {
		fmt.Fprintf(&b, "  %s %s=%s\n", s.SHA[:8], s.Name, s.Status)
	}
	return b.String()
}

const cancelForge = `forge:
  type: gitlab
  url: ${FORGE_URL}
  project: "42"
  token_env: PIPELINE_TOKEN
  statuses: true
`

// Mid-build: a component's command has started a grandchild that ignores
// SIGTERM and another that holds the output pipe.
func TestCancelMidBuild(t *testing.T) {
	testutil.NeedTool(t, "dpkg-deb")
	j := newCancelJob(t)
	j.files(".gitignore", "dist/\npkg/\n.pipeline/\n",
		"pipeline.yaml", "version: 1\nproject:\n  name: tiny\n"+cancelForge+`build:
  components:
    - name: tiny
      command: sh build.sh
      packages: [dist/*.deb]
  base:
    packages: [dash]
`,
		"build.sh", `set -e
if [ -e "$HANG" ]; then
  sh -c 'trap "" TERM; sleep 3601' &
  sleep 3602 &
  echo ready > "$READY"
  wait
fi
rm -rf pkg dist && mkdir -p pkg/DEBIAN dist
printf 'Package: tiny\nVersion: 1.0\nArchitecture: all\nMaintainer: Dev <dev@example.com>\nDescription: tiny\n' > pkg/DEBIAN/control
dpkg-deb --root-owner-group -b pkg dist/tiny_1.0_all.deb >/dev/null
`)
	sha := j.sh(j.dir, "git init -q -b master && git add -A && git commit -q -m 'feat: tiny' && git tag v1.0.0 && git rev-parse HEAD")
	j.gitlabJob("master", sha)
	os.WriteFile(filepath.Join(j.tmp, "hang"), nil, 0o644)

	r := j.start("build")
	j.waitFor(r, "component started", 2*time.Minute, func() bool {
		_, err := os.Stat(filepath.Join(j.tmp, "ready"))
		return err == nil && j.has("sleep 3601") && j.has("sleep 3602")
	})
	j.sigterm(r, "build")
	if !strings.Contains(r.stderr.String(), "tiny stopped after") {
		t.Errorf("the job log does not say the component was stopped:\n%s", r.stderr.String())
	}

	// The re-run builds.
	os.Remove(filepath.Join(j.tmp, "hang"))
	r = j.start("build")
	if code := j.exitCode(r, 3*time.Minute); code != 0 {
		t.Fatalf("re-run exited %d\n%s", code, r.stderr.String())
	}
	if last := j.lastStatus("pipeline/build"); last != "success" {
		t.Errorf("after the re-run pipeline/build is %q\n%s", last, j.statuses())
	}
}

// Mid-probe: promote's test (run in a worktree of the candidate) sleeps.
func TestCancelMidProbe(t *testing.T) {
	j := newCancelJob(t)
	origin := filepath.Join(j.tmp, "origin.git")
	j.files("pipeline.yaml", "version: 1\n"+cancelForge+`promote:
  remote: origin
  from: staging
  to: master
  test: sh bvt.sh
  parallel: 1
`,
		"bvt.sh", `if [ -e "$HANG" ]; then
  sleep 3603 &
  echo ready > "$READY"
  wait
fi
! grep -rq BUG --exclude=bvt.sh .
`)
	j.sh(j.tmp, "git init -q --bare -b master origin.git")
	sha := j.sh(j.dir, `git init -q -b master && git add -A && git commit -q -m 'feat: start' &&
		git remote add origin `+origin+` && git push -q origin master && git checkout -q -b staging &&
		echo a > a.txt && git add a.txt && git commit -q -m 'feat: a' &&
		echo b > b.txt && git add b.txt && git commit -q -m 'feat: b' &&
		git push -q origin staging && git rev-parse HEAD`)
	j.gitlabJob("staging", sha)
	os.WriteFile(filepath.Join(j.tmp, "hang"), nil, 0o644)

	r := j.start("promote")
	j.waitFor(r, "test started", 2*time.Minute, func() bool {
		_, err := os.Stat(filepath.Join(j.tmp, "ready"))
		return err == nil && j.has("sleep 3603")
	})
	j.sigterm(r, "promote")
	if got := j.sh(j.dir, "git ls-remote origin refs/heads/master | cut -f1"); got == sha {
		t.Error("master moved to staging's head during a cancelled promote")
	}

	// The re-run promotes both commits: no lock, worktree or half-made
	// state of the cancelled run is in the way.
	os.Remove(filepath.Join(j.tmp, "hang"))
	r = j.start("promote")
	if code := j.exitCode(r, 3*time.Minute); code != 0 {
		t.Fatalf("re-run exited %d\n%s", code, r.stderr.String())
	}
	if log := j.sh(j.dir, "git fetch -q origin && git log --format=%s origin/master"); !strings.Contains(log, "feat: a") || !strings.Contains(log, "feat: b") {
		t.Errorf("master after the re-run:\n%s", log)
	}
	if last := j.lastStatus("pipeline/promote"); last != "success" {
		t.Errorf("after the re-run pipeline/promote is %q\n%s", last, j.statuses())
	}
}

// Mid-boot: an integration target boots the template image (the
// fixture of stages/template/templatetest: a real Debian guest, direct
// kernel boot) under qemu, and pipeline is cancelled while the guest
// boots. The re-run boots it again, runs the suite over SSH and passes.
func TestCancelMidBoot(t *testing.T) {
	templatetest.NeedTools(t)
	img := templatetest.Image(t)
	j := newCancelJob(t)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	j.files(".gitignore", ".pipeline/\n",
		"ci_key", string(pem.EncodeToMemory(block)),
		"host_key.pub", img.HostKey+"\n",
		"s.yaml", "suite: s\nchecks:\n  - id: debian\n    file: {path: /etc/os-release, contains: /bookworm/}\n",
		"pipeline.yaml", "version: 1\nproject:\n  name: tiny\n"+cancelForge+fmt.Sprintf(`integration:
  version: "1.0"
  previous: "0.9"
  scenarios: [fresh]
  provision: "true"
  suites: [s.yaml]
  logs: {journal: false}
  targets:
    - name: vm
      runner: qemu
      disk_image: %s
      kernel: %s
      initrd: %s
      cmdline: %q
      key_file: ci_key
      known_hosts: host_key.pub
`, img.QCOW2, img.Kernel, img.Initrd, img.Cmdline))
	os.Chmod(filepath.Join(j.dir, "ci_key"), 0o600)
	sha := j.sh(j.dir, "git init -q -b master && git add -A && git commit -q -m 'feat: vm' && git rev-parse HEAD")
	j.gitlabJob("master", sha)

	r := j.start("integration")
	j.waitFor(r, "qemu running", 2*time.Minute, func() bool { return j.has("qemu-system-x86_64") })
	time.Sleep(3 * time.Second) // into the guest's boot (a minute or more under emulation)
	j.sigterm(r, "integration")
	if strings.Contains(r.stderr.String(), "passed, 0 failed") && !strings.Contains(r.stderr.String(), "0 passed") {
		t.Errorf("the suite ran: the cancel came after the boot, not during it\n%s", r.stderr.String())
	}

	r = j.start("integration")
	if code := j.exitCode(r, 10*time.Minute); code != 0 {
		junit, _ := os.ReadFile(filepath.Join(j.dir, ".pipeline", "reports", "junit-integration.xml"))
		t.Fatalf("re-run exited %d\n%s\n--- junit ---\n%s", code, r.stderr.String(), junit)
	}
	if last := j.lastStatus("pipeline/integration"); last != "success" {
		t.Errorf("after the re-run pipeline/integration is %q\n%s", last, j.statuses())
	}
	if left := j.procs(); len(left) > 0 {
		t.Errorf("processes left after the re-run:\n  %s", strings.Join(left, "\n  "))
	}
}

// The helpers above must see a process that carries the marker, or the
// "nothing left behind" checks would pass whatever happened.
func TestCancelProcessCheckSeesProcesses(t *testing.T) {
	j := newCancelJob(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "sleep", "3604")
	cmd.Env = j.env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	time.Sleep(100 * time.Millisecond)
	if !j.has("sleep 3604") {
		t.Fatalf("procs() does not see a marked sleep: %v", j.procs())
	}
	cancel()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
