package integration

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/text"
	"github.com/pipeline-ci/pipeline/runners"
)

// Each declarative check is two pure halves: the shell script that asks the
// target (probe) and the judgement of what came back (judge). Only the
// executor in run.go does I/O.

// Verdict is the judgement of one check.
type Verdict struct {
	OK bool
	// Message is one line (the JUnit failure message).
	Message string
	// Detail has what was seen, for the report body.
	Detail string
}

func pass(msg string) Verdict { return Verdict{OK: true, Message: msg} }
func fail(format string, args ...any) Verdict {
	return Verdict{Message: fmt.Sprintf(format, args...)}
}

// Probe returns the script that gathers what check c needs from a target,
// and its timeout (0: the default). Script and HTTP checks on runners that
// dial are not probes; Probe returns "" for them.
func Probe(c *Check) string {
	q := runners.Quote
	switch {
	case c.Package != nil:
		return "if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='${db:Status-Abbrev}|${Version}\\n' " + q(c.Package.Name) +
			" 2>/dev/null || echo 'un|'; else rpm -q --qf 'ii |%{VERSION}-%{RELEASE}\\n' " + q(c.Package.Name) + " 2>/dev/null | grep '^ii ' || echo 'un|'; fi"
	case c.Service != nil:
		s := c.Service
		pidfile := s.Pidfile
		if pidfile == "" {
			pidfile = "/run/" + s.Name + ".pid"
		}
		process := s.Process
		if process == "" {
			process = s.Name
		}
		return "n=" + q(s.Name) + "; pf=" + q(pidfile) + "; pr=" + q(process) + `
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  echo "manager=systemd"
  echo "active=$(systemctl is-active "$n" 2>/dev/null)"
  echo "enabled=$(systemctl is-enabled "$n" 2>/dev/null)"
  exit 0
fi
echo "manager=none"
if [ -r "$pf" ] && pid=$(cat "$pf") && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  echo "active=active"; echo "how=pidfile $pf (pid $pid)"
else
  found=
  for d in /proc/[0-9]*; do
    if [ "$(cat "$d/comm" 2>/dev/null)" = "$pr" ]; then found=${d#/proc/}; break; fi
  done
  if [ -n "$found" ]; then echo "active=active"; echo "how=process $pr (pid $found)"; else echo "active=inactive"; echo "how=no live pid in $pf and no process named $pr"; fi
fi
en=disabled
for l in /etc/systemd/system/*.wants/"$n".service /etc/rc[2345].d/S[0-9][0-9]"$n"; do
  if [ -e "$l" ] || [ -L "$l" ]; then en=enabled; echo "how-enabled=$l"; break; fi
done
echo "enabled=$en"`
	case c.File != nil:
		f := c.File
		s := "p=" + q(f.Path) + `
if [ ! -e "$p" ] && [ ! -L "$p" ]; then echo "exists=no"; exit 0; fi
echo "exists=yes"
echo "stat=$(stat -c '%F|%a|%U|%G' "$p")"`
		if f.SHA256 != "" {
			s += "\n" + `[ -f "$p" ] && echo "sha256=$(sha256sum "$p" | cut -d' ' -f1)"`
		}
		if f.Contains != "" {
			s += "\n" + `echo "content:"; [ -f "$p" ] && head -c 1048576 "$p"`
		}
		return s
	case c.Port != nil:
		if c.Port.Proto == "udp" {
			return "cat /proc/net/udp /proc/net/udp6 2>/dev/null"
		}
		return "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null"
	case c.Command != nil:
		return c.Command.Run
	case c.HTTP != nil:
		return HTTPProbe(c.HTTP)
	case c.User != nil:
		n := q(c.User.Name)
		return "getent passwd " + n + "; echo '--'; id -Gn " + n + " 2>/dev/null"
	case c.Group != nil:
		n := q(c.Group.Name)
		return "getent group " + n
	case c.Kernel != nil:
		return "cat /proc/sys/" + q(strings.ReplaceAll(c.Kernel.Param, ".", "/"))
	}
	return ""
}

// HTTPProbe fetches the URL on the target with curl or wget and prints the
// status on the first line, then the body.
func HTTPProbe(h *HTTPCheck) string {
	u := runners.Quote(h.URL)
	t := "10"
	if h.Timeout > 0 {
		t = strconv.Itoa(int(h.Timeout.Seconds() + 0.999))
	}
	return `if command -v curl >/dev/null 2>&1; then
  b=$(mktemp); code=$(curl -s -m ` + t + ` -o "$b" -w '%{http_code}' ` + u + `); echo "$code"; cat "$b"; rm -f "$b"
elif command -v wget >/dev/null 2>&1; then
  b=$(mktemp); h=$(wget -q -S -T ` + t + ` -O "$b" ` + u + ` 2>&1); echo "$h" | awk '/^  HTTP\//{c=$2} END{print (c==""?"000":c)}'; cat "$b"; rm -f "$b"
else
  echo "the http check needs curl or wget on the target" >&2; exit 127
fi`
}

// Judge reads a probe's output for check c.
func Judge(c *Check, out runners.Output) Verdict {
	if out.TimedOut {
		return fail("timed out after %s", out.Duration.Round(1e6))
	}
	stdout := string(out.Stdout)
	switch {
	case c.Package != nil:
		return judgePackage(c.Package, stdout)
	case c.Service != nil:
		return judgeService(c.Service, stdout)
	case c.File != nil:
		return judgeFile(c.File, stdout)
	case c.Port != nil:
		return judgePort(c.Port, stdout)
	case c.Command != nil:
		return judgeCommand(c.Command, out)
	case c.HTTP != nil:
		if out.Exit != 0 {
			return fail("could not fetch %s: exit %d: %s", c.HTTP.URL, out.Exit, firstLine(string(out.Stderr)))
		}
		code, body, _ := strings.Cut(stdout, "\n")
		status, _ := strconv.Atoi(strings.TrimSpace(code))
		return JudgeHTTP(c.HTTP, status, body)
	case c.User != nil:
		return judgeUser(c.User, stdout)
	case c.Group != nil:
		return judgeGroup(c.Group, stdout)
	case c.Kernel != nil:
		if out.Exit != 0 {
			return fail("kernel parameter %s does not exist", c.Kernel.Param)
		}
		got := strings.Join(strings.Fields(stdout), " ")
		want := strings.Join(strings.Fields(c.Kernel.Value), " ")
		if got != want {
			return fail("%s = %q, want %q", c.Kernel.Param, got, want)
		}
		return pass(c.Kernel.Param + " = " + got)
	}
	return fail("check has no kind")
}

func judgePackage(p *PackageCheck, stdout string) Verdict {
	status, version, _ := strings.Cut(strings.TrimSpace(firstLine(stdout)), "|")
	status = strings.TrimSpace(status)
	installed := strings.HasPrefix(status, "ii")
	wantInstalled := p.Installed == nil || *p.Installed
	switch {
	case !wantInstalled && installed:
		return fail("package %s is installed (%s), want it absent", p.Name, version)
	case !wantInstalled:
		return pass("package " + p.Name + " is absent")
	case !installed && status != "un" && status != "":
		return fail("package %s is not properly installed: dpkg status %q", p.Name, status)
	case !installed:
		return fail("package %s is not installed", p.Name)
	case p.Version != "" && version != p.Version:
		return fail("package %s is at version %s, want %s", p.Name, version, p.Version)
	}
	return pass("package " + p.Name + " " + version + " installed")
}

func keyValues(stdout string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			if _, seen := kv[k]; !seen {
				kv[k] = v
			}
		}
	}
	return kv
}

func judgeService(s *ServiceCheck, stdout string) Verdict {
	kv := keyValues(stdout)
	how := kv["how"]
	if kv["manager"] == "systemd" {
		how = "systemctl"
	}
	var problems, facts []string
	if s.Running != nil {
		running := kv["active"] == "active"
		if running != *s.Running {
			problems = append(problems, fmt.Sprintf("running=%v, want %v (%s: %s)", running, *s.Running, how, kv["active"]))
		} else {
			facts = append(facts, fmt.Sprintf("running=%v", running))
		}
	}
	if s.Enabled != nil {
		enabled := kv["enabled"] == "enabled"
		if enabled != *s.Enabled {
			problems = append(problems, fmt.Sprintf("enabled=%v, want %v (%s)", enabled, *s.Enabled, kv["enabled"]))
		} else {
			facts = append(facts, fmt.Sprintf("enabled=%v", enabled))
		}
	}
	if len(problems) > 0 {
		v := fail("service %s: %s", s.Name, strings.Join(problems, "; "))
		v.Detail = stdout
		return v
	}
	return pass(fmt.Sprintf("service %s: %s (%s)", s.Name, strings.Join(facts, ", "), how))
}

func judgeFile(f *FileCheck, stdout string) Verdict {
	head, content, _ := strings.Cut(stdout, "content:\n")
	kv := keyValues(head)
	exists := kv["exists"] == "yes"
	wantExists := f.Exists == nil || *f.Exists
	if !exists || !wantExists {
		if exists != wantExists {
			if exists {
				return fail("%s exists, want it absent", f.Path)
			}
			return fail("%s does not exist", f.Path)
		}
		return pass(f.Path + " is absent")
	}
	parts := strings.Split(kv["stat"], "|")
	if len(parts) != 4 {
		return fail("cannot read the attributes of %s: %q", f.Path, kv["stat"])
	}
	typ := map[string]string{"regular file": "file", "regular empty file": "file", "directory": "directory", "symbolic link": "symlink"}[parts[0]]
	var problems []string
	if f.Type != "" && typ != f.Type {
		problems = append(problems, fmt.Sprintf("is a %s, want %s", parts[0], f.Type))
	}
	if f.Mode != "" {
		want, _ := strconv.ParseUint(f.Mode, 8, 32)
		got, _ := strconv.ParseUint(parts[1], 8, 32)
		if want != got {
			problems = append(problems, fmt.Sprintf("mode %04o, want %04o", got, want))
		}
	}
	if f.Owner != "" && parts[2] != f.Owner {
		problems = append(problems, fmt.Sprintf("owner %s, want %s", parts[2], f.Owner))
	}
	if f.Group != "" && parts[3] != f.Group {
		problems = append(problems, fmt.Sprintf("group %s, want %s", parts[3], f.Group))
	}
	if f.SHA256 != "" && kv["sha256"] != f.SHA256 {
		problems = append(problems, fmt.Sprintf("sha256 %s, want %s", orNone(kv["sha256"]), f.SHA256))
	}
	if f.Contains != "" {
		m, _ := compileMatcher(f.Contains)
		if !m.contains(content) {
			problems = append(problems, fmt.Sprintf("does not contain %s", f.Contains))
		}
	}
	if len(problems) > 0 {
		return fail("%s: %s", f.Path, strings.Join(problems, "; "))
	}
	return pass(fmt.Sprintf("%s: %s %s %s:%s", f.Path, typ, parts[1], parts[2], parts[3]))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (m *matcher) contains(s string) bool {
	if m.re != nil {
		return m.re.MatchString(s)
	}
	return strings.Contains(s, m.literal)
}

// equals is the rule for command output: a regex may match anywhere; a
// literal must be the whole text, a trailing newline aside.
func (m *matcher) equals(s string) bool {
	if m.re != nil {
		return m.re.MatchString(s)
	}
	return strings.TrimSuffix(s, "\n") == strings.TrimSuffix(m.literal, "\n")
}

// ListeningPorts parses /proc/net/{tcp,udp}[6] and returns the local ports
// in LISTEN state (tcp) or bound (udp), sorted, without duplicates.
func ListeningPorts(procNet string, udp bool) []int {
	set := map[int]bool{}
	for _, line := range strings.Split(procNet, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.Contains(f[1], ":") || f[0] == "sl" {
			continue
		}
		if !udp && f[3] != "0A" { // 0A = TCP_LISTEN
			continue
		}
		if udp && f[3] != "07" { // 07 = unconnected UDP socket
			continue
		}
		_, hexPort, _ := strings.Cut(f[1], ":")
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
			set[int(p)] = true
		}
	}
	var out []int
	for p := range set {
		out = append(out, p)
	}
	sort.Ints(out)
	return out
}

func judgePort(p *PortCheck, stdout string) Verdict {
	listening := false
	for _, port := range ListeningPorts(stdout, p.Proto == "udp") {
		if port == p.Port {
			listening = true
		}
	}
	want := p.Listening == nil || *p.Listening
	switch {
	case listening && !want:
		return fail("%s port %d is listening, want nothing there", p.Proto, p.Port)
	case !listening && want:
		return fail("nothing listens on %s port %d", p.Proto, p.Port)
	}
	return pass(fmt.Sprintf("%s port %d listening=%v", p.Proto, p.Port, listening))
}

func judgeCommand(c *CommandCheck, out runners.Output) Verdict {
	want := 0
	if c.Exit != nil {
		want = *c.Exit
	}
	var problems []string
	if out.Exit != want {
		problems = append(problems, fmt.Sprintf("exit status %d, want %d", out.Exit, want))
	}
	if c.Stdout != "" {
		if m, _ := compileMatcher(c.Stdout); !m.equals(string(out.Stdout)) {
			problems = append(problems, fmt.Sprintf("stdout does not match %s", quoteShort(c.Stdout)))
		}
	}
	if c.Stderr != "" {
		if m, _ := compileMatcher(c.Stderr); !m.equals(string(out.Stderr)) {
			problems = append(problems, fmt.Sprintf("stderr does not match %s", quoteShort(c.Stderr)))
		}
	}
	detail := fmt.Sprintf("$ %s\nexit %d\n--- stdout\n%s--- stderr\n%s", c.Run, out.Exit, clip(out.Stdout), clip(out.Stderr))
	if len(problems) > 0 {
		return Verdict{Message: strings.Join(problems, "; "), Detail: detail}
	}
	return Verdict{OK: true, Message: fmt.Sprintf("exit %d", out.Exit), Detail: detail}
}

// JudgeHTTP judges a response however it was fetched.
func JudgeHTTP(h *HTTPCheck, status int, body string) Verdict {
	var problems []string
	if status != h.Status {
		if status == 0 {
			problems = append(problems, "no response")
		} else {
			problems = append(problems, fmt.Sprintf("status %d, want %d", status, h.Status))
		}
	}
	if h.Body != "" {
		if m, _ := compileMatcher(h.Body); !m.contains(body) {
			problems = append(problems, fmt.Sprintf("body does not match %s", quoteShort(h.Body)))
		}
	}
	if len(problems) > 0 {
		return Verdict{Message: "GET " + h.URL + ": " + strings.Join(problems, "; "), Detail: string(clip([]byte(body)))}
	}
	return pass(fmt.Sprintf("GET %s: %d", h.URL, status))
}

func judgeUser(u *UserCheck, stdout string) Verdict {
	pw, groups, _ := strings.Cut(stdout, "--\n")
	f := strings.Split(strings.TrimSpace(firstLine(pw)), ":")
	exists := len(f) >= 7 && f[0] == u.Name
	want := u.Exists == nil || *u.Exists
	if !exists || !want {
		if exists != want {
			if exists {
				return fail("user %s exists, want it absent", u.Name)
			}
			return fail("user %s does not exist", u.Name)
		}
		return pass("user " + u.Name + " is absent")
	}
	var problems []string
	if u.UID != nil && f[2] != strconv.Itoa(*u.UID) {
		problems = append(problems, fmt.Sprintf("uid %s, want %d", f[2], *u.UID))
	}
	if u.Home != "" && f[5] != u.Home {
		problems = append(problems, fmt.Sprintf("home %s, want %s", f[5], u.Home))
	}
	if u.Shell != "" && f[6] != u.Shell {
		problems = append(problems, fmt.Sprintf("shell %s, want %s", f[6], u.Shell))
	}
	have := strings.Fields(groups)
	for _, g := range u.Groups {
		if !contains(have, g) {
			problems = append(problems, fmt.Sprintf("not in group %s (groups: %s)", g, strings.Join(have, " ")))
		}
	}
	if len(problems) > 0 {
		return fail("user %s: %s", u.Name, strings.Join(problems, "; "))
	}
	return pass(fmt.Sprintf("user %s uid %s", u.Name, f[2]))
}

func judgeGroup(g *GroupCheck, stdout string) Verdict {
	f := strings.Split(strings.TrimSpace(firstLine(stdout)), ":")
	exists := len(f) >= 4 && f[0] == g.Name
	want := g.Exists == nil || *g.Exists
	if !exists || !want {
		if exists != want {
			if exists {
				return fail("group %s exists, want it absent", g.Name)
			}
			return fail("group %s does not exist", g.Name)
		}
		return pass("group " + g.Name + " is absent")
	}
	var problems []string
	if g.GID != nil && f[2] != strconv.Itoa(*g.GID) {
		problems = append(problems, fmt.Sprintf("gid %s, want %d", f[2], *g.GID))
	}
	members := strings.Split(f[3], ",")
	for _, m := range g.Members {
		if !contains(members, m) {
			problems = append(problems, fmt.Sprintf("%s is not a member (members: %s)", m, f[3]))
		}
	}
	if len(problems) > 0 {
		return fail("group %s: %s", g.Name, strings.Join(problems, "; "))
	}
	return pass(fmt.Sprintf("group %s gid %s", g.Name, f[2]))
}

func firstLine(s string) string { return text.FirstLine(s) }

func quoteShort(s string) string {
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strconv.Quote(s)
}

// clip keeps the last 4 KiB of output for reports.
func clip(b []byte) []byte {
	const max = 4096
	if len(b) > max {
		return append([]byte("[...]\n"), b[len(b)-max:]...)
	}
	return b
}

// Batchable reports whether c's first probe can share one command with
// others: every kind but http (its own connection) and script (files to
// copy), and commands only when they have no timeout of their own.
func Batchable(c *Check) bool {
	switch {
	case c.Command != nil:
		return c.Command.Timeout == 0
	case c.HTTP != nil, c.Script != nil:
		return false
	}
	return true
}

// BatchScript runs the probes of checks one after the other, each in a
// subshell with no stdin, and prints each one's stdout (and, for commands,
// its stderr) followed by a marker line with the kind of record, the index
// and the exit status. The marker has a random part so that no output can
// fake it.
func BatchScript(checks []*Check) (script, marker string) {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	marker = "@@pipeline-" + hex.EncodeToString(nonce[:])
	var b strings.Builder
	b.WriteString("__pipeline_err=$(mktemp)\n")
	for i, c := range checks {
		if c.Command != nil {
			fmt.Fprintf(&b, "(\n%s\n) 2>\"$__pipeline_err\" </dev/null\nprintf '\\n%s O %d %%d\\n' $?\ncat \"$__pipeline_err\"\nprintf '\\n%s E %d 0\\n'\n",
				Probe(c), marker, i, marker, i)
			continue
		}
		fmt.Fprintf(&b, "(\n%s\n) 2>/dev/null </dev/null\nprintf '\\n%s O %d %%d\\n' $?\n", Probe(c), marker, i)
	}
	b.WriteString("rm -f \"$__pipeline_err\"\n")
	return b.String(), marker
}

// SplitBatch cuts the output of BatchScript into one Output per check
// (nil where the output is missing: that check runs again alone).
func SplitBatch(stdout, marker string, n int) []*runners.Output {
	outs := make([]*runners.Output, n)
	rest := stdout
	for {
		i := strings.Index(rest, "\n"+marker+" ")
		if i < 0 {
			return outs
		}
		body := rest[:i]
		line := rest[i+1:]
		end := strings.IndexByte(line, '\n')
		if end < 0 {
			end = len(line)
		}
		var kind string
		var idx, exit int
		if _, err := fmt.Sscanf(line[:end], marker+" %s %d %d", &kind, &idx, &exit); err == nil && idx >= 0 && idx < n {
			switch {
			case kind == "O":
				outs[idx] = &runners.Output{Stdout: []byte(body), Exit: exit}
			case kind == "E" && outs[idx] != nil:
				outs[idx].Stderr = []byte(body)
			}
		}
		if end >= len(line) {
			return outs
		}
		rest = line[end+1:]
	}
}
