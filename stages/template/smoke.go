package template

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/runners/qemu"
)

// SmokeResult is what the smoke boot found inside the image.
type SmokeResult struct {
	Accel string `json:"accel"`
	// State is `systemctl is-system-running --wait`: running is the
	// target state.
	State string `json:"state"`
	// Pins are the meta-package's exact dependencies and what is
	// installed.
	Pins       []Pin    `json:"pins,omitempty"`
	Problems   []string `json:"problems,omitempty"`
	BootSecs   float64  `json:"boot_seconds"`
	ConsoleLog string   `json:"console_log"`
}

// Pin is one `name (= version)` dependency of the meta-package.
type Pin struct {
	Package   string `json:"package"`
	Want      string `json:"want"`
	Installed string `json:"installed"`
}

// smokeScript prints the state, the meta-package's version and Depends,
// and every installed package, in sections the parser splits on.
func smokeScript(meta string) string {
	s := "echo '== state'; systemctl is-system-running --wait || true\n" +
		"echo '== failed'; systemctl --failed --no-legend --plain || true\n"
	if meta != "" {
		s += fmt.Sprintf("echo '== meta'; dpkg-query -W -f='${Version}\\n${Depends}\\n' %s || true\n", shellQuote(meta))
	}
	s += "echo '== installed'; dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\n'\n"
	return s
}

// CheckSmoke judges the smoke script's output: the system reached
// "running", the meta-package is installed at version, and every package it
// pins with "=" is installed at exactly that version.
func CheckSmoke(output, meta, version string) (state string, pins []Pin, problems []string) {
	sections := map[string][]string{}
	cur := ""
	for _, line := range strings.Split(output, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, "== ") {
			cur = strings.TrimPrefix(line, "== ")
			continue
		}
		if cur != "" && strings.TrimSpace(line) != "" {
			sections[cur] = append(sections[cur], line)
		}
	}
	if s := sections["state"]; len(s) > 0 {
		state = strings.TrimSpace(s[len(s)-1])
	}
	if state != "running" {
		p := fmt.Sprintf("system state is %q, want \"running\"", state)
		if f := sections["failed"]; len(f) > 0 {
			p += "; failed units: " + strings.Join(f, "; ")
		}
		problems = append(problems, p)
	}
	installed := map[string]string{}
	for _, l := range sections["installed"] {
		f := strings.Split(l, "\t")
		if len(f) == 3 && strings.HasPrefix(f[0], "ii") {
			installed[f[1]] = f[2]
		}
	}
	if meta == "" {
		return state, nil, problems
	}
	m := sections["meta"]
	if installed[meta] == "" || len(m) == 0 {
		return state, nil, append(problems, fmt.Sprintf("meta-package %s is not installed", meta))
	}
	if installed[meta] != version {
		problems = append(problems, fmt.Sprintf("meta-package %s is at %s, want %s", meta, installed[meta], version))
	}
	depends := ""
	if len(m) > 1 {
		depends = m[1]
	}
	for _, d := range ParsePins(depends) {
		d.Installed = installed[d.Package]
		if d.Installed != d.Want {
			got := d.Installed
			if got == "" {
				got = "not installed"
			}
			problems = append(problems, fmt.Sprintf("%s: pinned to %s by %s, found %s", d.Package, d.Want, meta, got))
		}
		pins = append(pins, d)
	}
	if len(pins) == 0 {
		problems = append(problems, fmt.Sprintf("meta-package %s pins no exact versions (Depends: %q)", meta, depends))
	}
	return state, pins, problems
}

var pinRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9]+)?\s*\(\s*=\s*([^)\s]+)\s*\)\s*$`)
})

// ParsePins returns the "name (= version)" entries of a Depends field.
func ParsePins(depends string) []Pin {
	var out []Pin
	for _, d := range strings.Split(depends, ",") {
		if m := pinRe().FindStringSubmatch(d); m != nil {
			out = append(out, Pin{Package: m[1], Want: m[2]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Package < out[j].Package })
	return out
}

// SmokeBoot boots the image (direct kernel boot, snapshot=on), logs in as
// root with a throw-away key handed over as a systemd credential, and runs
// the check. A boot that does not answer within timeout is killed and
// reported with the console log.
type SmokeBoot struct {
	Image, Kernel, Initrd, Cmdline string
	HostKey                        string // the image's ed25519 host key, checked
	WorkDir                        string
	Timeout                        time.Duration
	MemoryMB                       int
	Accel                          string
}

// Run boots and checks the image.
func (s SmokeBoot) Run(ctx context.Context, meta, version string) (*SmokeResult, error) {
	key := filepath.Join(s.WorkDir, "smoke_key")
	os.Remove(key)
	os.Remove(key + ".pub")
	if _, err := runCmd(ctx, nil, "", nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pipeline-smoke", "-f", key); err != nil {
		return nil, err
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		return nil, err
	}
	res := &SmokeResult{ConsoleLog: filepath.Join(s.WorkDir, "console.log")}
	start := time.Now()
	vm, err := qemu.Start(ctx, qemu.Config{
		Image: s.Image, Kernel: s.Kernel, Initrd: s.Initrd, Append: s.Cmdline,
		MemoryMB: s.MemoryMB, Accel: s.Accel, ConsoleLog: res.ConsoleLog, ForwardSSH: true,
		Credentials: qemu.AuthorizedKeys(string(pub)),
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = vm.Kill() }() // after Shutdown below, or on an early return
	res.Accel = vm.Accel()
	if err := vm.WaitForSSH(ctx, s.Timeout); err != nil {
		return res, err
	}
	known := filepath.Join(s.WorkDir, "known_hosts")
	if err := os.WriteFile(known, []byte(fmt.Sprintf("[127.0.0.1]:%d %s\n", vm.SSHPort(), strings.TrimSpace(s.HostKey))), 0o600); err != nil {
		return res, err
	}
	args := []string{"-i", key, "-p", fmt.Sprint(vm.SSHPort()), "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=" + known,
		"-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", "root@127.0.0.1", smokeScript(meta)}
	// sshd may answer a moment before the credential's key is in place.
	var out string
	deadline := time.Now().Add(s.Timeout - time.Since(start))
	for {
		cctx, cancel := context.WithTimeout(ctx, s.Timeout)
		out, err = runCmd(cctx, nil, "", nil, "ssh", args...)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(3 * time.Second)
	}
	if err != nil {
		return res, fmt.Errorf("smoke boot: log in over ssh: %w\n--- console ---\n%s", err, vm.ConsoleTail(30))
	}
	res.BootSecs = time.Since(start).Seconds()
	res.State, res.Pins, res.Problems = CheckSmoke(out, meta, version)
	_ = vm.Shutdown(3 * time.Second) //nolint:contextcheck // the verdict is in; Shutdown kills what does not stop, whatever ctx
	return res, nil
}
