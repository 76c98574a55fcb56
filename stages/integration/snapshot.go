package integration

import (
	"bufio"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/pipeline-ci/pipeline/runners"
)

// Snapshot is the normalised state of a target: one value per key, keys
// like "package:openssl", "service:appliance-web", "port:tcp/8080",
// "user:appliance", "group:appliance", "sysctl:net.ipv4.ip_forward",
// "file:/etc/appliance/web.conf". Values hold only what should be equal on
// two servers in the same state (names, not allocated uid numbers).
type Snapshot map[string]string

// SnapshotSpec says what a snapshot covers.
type SnapshotSpec struct {
	// Paths are trees whose files are recorded with type, mode, owner and
	// sha256.
	Paths []string
	// Sysctl are kernel parameters recorded by name.
	Sysctl []string
	// Ignore are key patterns left out: '*' matches anything, '/'
	// included ("file:/var/log/*", "package:linux-image-*").
	Ignore []string
}

// SnapshotScript is the script that prints the raw state of a target.
func SnapshotScript(spec SnapshotSpec) string {
	var b strings.Builder
	b.WriteString(`echo '### packages'
command -v dpkg-query >/dev/null 2>&1 && dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n' 2>/dev/null
command -v rpm >/dev/null 2>&1 && ! command -v dpkg-query >/dev/null 2>&1 && rpm -qa --qf '%{NAME}\t%{VERSION}-%{RELEASE}\tii \n'
echo '### services'
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl list-unit-files --state=enabled --type=service --no-legend --no-pager 2>/dev/null | awk '{print $1}' | sed 's/\.service$//'
else
  for l in /etc/systemd/system/*.wants/*.service; do [ -e "$l" ] || [ -L "$l" ] && basename "$l" .service; done
  for l in /etc/rc[2345].d/S*; do [ -e "$l" ] && basename "$l" | sed 's/^S[0-9][0-9]//'; done
fi
echo '### tcp'
cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
echo '### udp'
cat /proc/net/udp /proc/net/udp6 2>/dev/null
echo '### passwd'
getent passwd
echo '### group'
getent group
echo '### sysctl'
`)
	for _, k := range spec.Sysctl {
		fmt.Fprintf(&b, "printf '%%s\\t%%s\\n' %s \"$(cat /proc/sys/%s 2>/dev/null || echo '(absent)')\"\n",
			runners.Quote(k), runners.Quote(strings.ReplaceAll(k, ".", "/")))
	}
	b.WriteString("echo '### files'\n")
	for _, p := range spec.Paths {
		q := runners.Quote(p)
		fmt.Fprintf(&b, "[ -e %s ] && find %s -xdev -printf '%%p\\t%%y\\t%%m\\t%%u\\t%%g\\t%%l\\n'\n", q, q)
	}
	b.WriteString("echo '### sha256'\n")
	for _, p := range spec.Paths {
		q := runners.Quote(p)
		fmt.Fprintf(&b, "[ -e %s ] && find %s -xdev -type f -exec sha256sum {} +\n", q, q)
	}
	b.WriteString("true\n")
	return b.String()
}

// ParseSnapshot normalises the output of SnapshotScript and drops ignored
// keys.
func ParseSnapshot(raw string, ignore []string) Snapshot {
	s := Snapshot{}
	section := ""
	sums := map[string]string{}
	type fileRow struct{ typ, mode, owner, group, link string }
	files := map[string]fileRow{}
	var procTCP, procUDP strings.Builder
	sc := bufio.NewScanner(strings.NewReader(raw))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "### ") {
			section = strings.TrimPrefix(line, "### ")
			continue
		}
		f := strings.Split(line, "\t")
		switch section {
		case "packages":
			if len(f) < 3 || f[0] == "" {
				continue
			}
			st := strings.TrimSpace(f[2])
			switch {
			case st == "ii":
				s["package:"+f[0]] = f[1]
			case strings.HasPrefix(st, "rc"), strings.HasPrefix(st, "un"), strings.HasPrefix(st, "pn"):
				// removed with config left, or never installed: not installed
			default:
				s["package:"+f[0]] = f[1] + " (dpkg status " + st + ")"
			}
		case "services":
			if name := strings.TrimSpace(line); name != "" {
				s["service:"+name] = "enabled"
			}
		case "tcp":
			procTCP.WriteString(line + "\n")
		case "udp":
			procUDP.WriteString(line + "\n")
		case "passwd":
			p := strings.Split(line, ":")
			if len(p) >= 7 {
				s["user:"+p[0]] = "home=" + p[5] + " shell=" + p[6]
			}
		case "group":
			p := strings.Split(line, ":")
			if len(p) >= 4 {
				members := strings.Split(p[3], ",")
				sort.Strings(members)
				s["group:"+p[0]] = "members=" + strings.Trim(strings.Join(members, ","), ",")
			}
		case "sysctl":
			if len(f) == 2 {
				s["sysctl:"+f[0]] = strings.Join(strings.Fields(f[1]), " ")
			}
		case "files":
			if len(f) == 6 {
				files[f[0]] = fileRow{f[1], f[2], f[3], f[4], f[5]}
			}
		case "sha256":
			if sum, p, ok := strings.Cut(line, "  "); ok {
				sums[p] = sum
			}
		}
	}
	for _, port := range ListeningPorts(procTCP.String(), false) {
		s[fmt.Sprintf("port:tcp/%d", port)] = "listening"
	}
	for _, port := range ListeningPorts(procUDP.String(), true) {
		s[fmt.Sprintf("port:udp/%d", port)] = "bound"
	}
	for p, r := range files {
		v := fmt.Sprintf("%s %s %s:%s", map[string]string{"f": "file", "d": "dir", "l": "link"}[r.typ], r.mode, r.owner, r.group)
		if v[0] == ' ' {
			v = r.typ + v
		}
		if r.typ == "l" {
			v += " -> " + r.link
		}
		if sum := sums[p]; sum != "" {
			v += " sha256=" + sum
		}
		s["file:"+p] = v
	}
	if len(ignore) > 0 {
		res := compileIgnore(ignore)
		for k := range s {
			for _, re := range res {
				if re.MatchString(k) {
					delete(s, k)
					break
				}
			}
		}
	}
	return s
}

// compileIgnore turns glob patterns ('*' anything, '?' one character) into
// anchored regexps.
func compileIgnore(patterns []string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, p := range patterns {
		q := regexp.QuoteMeta(p)
		q = strings.ReplaceAll(q, `\*`, ".*")
		q = strings.ReplaceAll(q, `\?`, ".")
		out = append(out, regexp.MustCompile("^"+q+"$"))
	}
	return out
}

// Text renders the snapshot as sorted "key<TAB>value" lines (the artifact).
func (s Snapshot) Text() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\t" + s[k] + "\n")
	}
	return b.String()
}

// Difference is one key whose value differs between two snapshots; an
// empty value means the key is absent on that side.
type Difference struct {
	Key string `json:"key"`
	A   string `json:"a"`
	B   string `json:"b"`
}

// Absent is how a missing value is shown.
const Absent = "(absent)"

func show(v string) string {
	if v == "" {
		return Absent
	}
	return v
}

// Diff lists the keys whose values differ between a and b, sorted by key.
func Diff(a, b Snapshot) []Difference {
	var out []Difference
	for k, va := range a {
		if vb, ok := b[k]; !ok || va != vb {
			out = append(out, Difference{Key: k, A: va, B: b[k]})
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			out = append(out, Difference{Key: k, B: vb})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// String shows a difference with both values, labelled.
func (d Difference) String(labelA, labelB string) string {
	return fmt.Sprintf("%s: %s %s, %s %s", d.Key, labelA, show(d.A), labelB, show(d.B))
}
