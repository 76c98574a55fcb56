package integration

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

var update = flag.Bool("update", false, "rewrite golden files")

const rawSnapshot = `### packages
appliance-agent	1.1.0-1	ii 
old-tool	0.9	rc 
broken	2.0	iF 
### services
appliance-agent
### tcp
  sl  local_address rem_address   st
   0: 0100007F:1F90 00000000:0000 0A 0
### udp
### passwd
root:x:0:0:root:/root:/bin/bash
app:x:998:998::/var/lib/app:/usr/sbin/nologin
### group
adm:x:4:syslog,app
### sysctl
net.ipv4.ip_forward	0
### files
/etc/appliance	d	755	root	root	
/etc/appliance/agent.conf	f	644	root	root	
/etc/appliance/current	l	777	root	root	agent.conf
/etc/appliance/cache.db	f	600	app	app	
### sha256
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  /etc/appliance/agent.conf
`

func TestParseSnapshot(t *testing.T) {
	s := ParseSnapshot(rawSnapshot, []string{"file:/etc/appliance/*.db"})
	want := map[string]string{
		"package:appliance-agent":        "1.1.0-1",
		"package:broken":                 "2.0 (dpkg status iF)",
		"service:appliance-agent":        "enabled",
		"port:tcp/8080":                  "listening",
		"user:root":                      "home=/root shell=/bin/bash",
		"user:app":                       "home=/var/lib/app shell=/usr/sbin/nologin",
		"group:adm":                      "members=app,syslog",
		"sysctl:net.ipv4.ip_forward":     "0",
		"file:/etc/appliance":            "dir 755 root:root",
		"file:/etc/appliance/agent.conf": "file 644 root:root sha256=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"file:/etc/appliance/current":    "link 777 root:root -> agent.conf",
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("%s = %q, want %q", k, s[k], v)
		}
	}
	if _, ok := s["package:old-tool"]; ok {
		t.Error("a removed package (rc) is not installed")
	}
	if _, ok := s["file:/etc/appliance/cache.db"]; ok {
		t.Error("ignored key kept")
	}
	if len(s) != len(want) {
		t.Errorf("extra keys:\n%s", s.Text())
	}
}

func TestDiff(t *testing.T) {
	fresh := Snapshot{"package:a": "2.0", "file:/etc/a.conf": "file 644", "user:x": "home=/ shell=/bin/sh"}
	upgrade := Snapshot{"package:a": "2.0", "file:/etc/a.conf": "file 600", "file:/etc/old.conf": "file 644"}
	d := Diff(fresh, upgrade)
	if len(d) != 3 {
		t.Fatalf("got %+v", d)
	}
	got := []string{d[0].String("fresh", "upgrade"), d[1].String("fresh", "upgrade"), d[2].String("fresh", "upgrade")}
	want := []string{
		"file:/etc/a.conf: fresh file 644, upgrade file 600",
		"file:/etc/old.conf: fresh (absent), upgrade file 644",
		"user:x: fresh home=/ shell=/bin/sh, upgrade (absent)",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("diff[%d] = %q, want %q", i, got[i], want[i])
		}
	}
	if len(Diff(fresh, fresh)) != 0 {
		t.Error("a snapshot differs from itself")
	}
}

func TestSnapshotScriptQuotesPaths(t *testing.T) {
	s := SnapshotScript(SnapshotSpec{Paths: []string{"/etc/it's here"}, Sysctl: []string{"net.ipv4.ip_forward"}})
	if !strings.Contains(s, `find '/etc/it'\''s here' -xdev`) || !strings.Contains(s, "/proc/sys/net/ipv4/ip_forward") {
		t.Fatal(s)
	}
}

func TestLogScan(t *testing.T) {
	mark := ParseLogMark("1700000000\n/var/log/app.log\t120\t7\n")
	if mark.Time != 1700000000 || mark.Offsets["/var/log/app.log"] != 120 || mark.Lines["/var/log/app.log"] != 7 {
		t.Fatalf("mark %+v", mark)
	}
	spec := LogSpec{Files: []string{"/var/log/*.log"}, Journal: true, Context: 1,
		Patterns: []*regexp.Regexp{regexp.MustCompile(`(?i)\berror\b`)},
		Allow:    []*regexp.Regexp{regexp.MustCompile(`deprecated`)}}
	script := LogCollectScript(spec, mark)
	if !strings.Contains(script, "tail -c +121") || !strings.Contains(script, "--since @1700000000") || !strings.Contains(script, "for f in /var/log/*.log") {
		t.Fatal(script)
	}
	logs := ParseLogCollect("### log journal\nstarted\n### log /var/log/app.log\nline one\nERROR: disk full\nerror: deprecated option x\nline four\n")
	hits := ScanLogs(logs, spec, mark)
	if len(hits) != 1 {
		t.Fatalf("hits %+v", hits)
	}
	h := hits[0]
	if h.Source != "/var/log/app.log" || h.Line != 9 || h.Text != "ERROR: disk full" || len(h.Context) != 3 {
		t.Fatalf("hit %+v", h)
	}
}

func TestSelectTargets(t *testing.T) {
	var all []config.IntegrationTarget
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		all = append(all, config.IntegrationTarget{Name: n})
	}
	names := func(ts []config.IntegrationTarget) string {
		var s []string
		for _, t := range ts {
			s = append(s, t.Name)
		}
		return strings.Join(s, ",")
	}
	for _, c := range []struct {
		shard, shards int
		want          string
	}{{1, 2, "a,c,e"}, {2, 2, "b,d"}, {3, 3, "c"}, {0, 0, "a,b,c,d,e"}} {
		got, err := SelectTargets(all, nil, c.shard, c.shards)
		if err != nil || names(got) != c.want {
			t.Errorf("shard %d/%d: %s %v, want %s", c.shard, c.shards, names(got), err, c.want)
		}
	}
	if got, _ := SelectTargets(all, []string{"d", "b"}, 0, 0); names(got) != "d,b" {
		t.Errorf("by name: %s", names(got))
	}
	if _, err := SelectTargets(all, []string{"z"}, 0, 0); err == nil || !strings.Contains(errs.Format(err), `--target "z": no such target`) {
		t.Errorf("unknown target: %v", err)
	}
	for _, bad := range []string{"0/2", "3/2", "1", "a/b", "1/2x"} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if i, n, err := ParseShard("2/4"); i != 2 || n != 4 || err != nil {
		t.Errorf("ParseShard(2/4) = %d %d %v", i, n, err)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (go test -update to accept):\n%s", name, got)
	}
}

func sampleRuns() []*TargetRun {
	return []*TargetRun{
		{Target: "chroot", Kind: "chroot", Scenarios: []*ScenarioRun{{Scenario: Fresh}, {Scenario: Upgrade}}, Cases: []Case{
			{Suite: "provision", Target: "chroot", Phase: Fresh, Name: "provision", Status: Pass},
			{Suite: "web", Target: "chroot", Phase: Fresh, Name: "agent-enabled", Status: Pass},
			{Suite: "provision", Target: "chroot", Phase: Upgrade, Name: "provision", Status: Fail, Message: "provision exited 1: mv: cannot move '/var/lib/appliance-agent'", Detail: "full output"},
			{Suite: "web", Target: "chroot", Phase: Upgrade, Name: "agent-enabled", Status: Skip, Message: "not run: provisioning failed"},
			{Suite: "state", Target: "chroot", Phase: "diff", Name: "fresh-equals-upgrade", Status: Skip, Message: "not compared"},
		}},
		{Target: "vm|1", Kind: "qemu", Scenarios: []*ScenarioRun{{Scenario: Fresh, Infra: "boot timed out"}}, Cases: []Case{
			{Suite: "provision", Target: "vm|1", Phase: Fresh, Name: "target", Status: Error, Message: "vm: waiting for ssh: timed out"},
		}},
		{Target: "podman", Kind: "container", Scenarios: []*ScenarioRun{{Scenario: Fresh}, {Scenario: Upgrade}}, Cases: []Case{
			{Suite: "web", Target: "podman", Phase: Fresh, Name: "agent-enabled", Status: Pass},
			{Suite: "web", Target: "podman", Phase: Upgrade, Name: "agent-enabled", Status: Pass},
			{Suite: "state", Target: "podman", Phase: "diff", Name: "file:/etc/appliance/agent.conf", Status: Fail, Message: "file:/etc/appliance/agent.conf: fresh (absent), upgrade file 644 root:root"},
			{Suite: "state", Target: "podman", Phase: "diff", Name: "package:chrony", Status: Fail, Message: "package:chrony: fresh 4.3-2, upgrade 4.3-2 rc"},
		}, Diff: []Difference{{Key: "file:/etc/appliance/agent.conf", B: "file 644 root:root"}, {Key: "package:chrony", A: "4.3-2", B: "4.3-2 rc"}}},
	}
}

func TestCommentGolden(t *testing.T) {
	data := Summarise(sampleRuns(), "1.1.0", "1.0.0", "")
	md, err := Comment(CommentInput{Data: data, JobURL: "https://gitlab.example/g/p/-/jobs/7",
		Link: func(target, phase string) string {
			if target == "chroot" {
				return "https://gitlab.example/g/p/-/jobs/7/artifacts/file/.pipeline/reports/integration/chroot/" + phase + ".log"
			}
			return ""
		}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "comment.md", md)
	// The differences are a side-by-side table, not items of the problem list.
	if strings.Contains(md, "| `state.podman.diff`") {
		t.Errorf("a state difference is in the problem list too:\n%s", md)
	}
	capped, _ := Comment(CommentInput{Data: data, MaxFailures: 1})
	if !strings.Contains(capped, "FRESH vs UPGRADE on podman: 1 of 2 difference(s)") || strings.Contains(capped, "package:chrony") {
		t.Errorf("capped comment:\n%s", capped)
	}
	ok, _ := Comment(CommentInput{Data: Summarise(sampleRuns()[:0], "1.1.0", "", "2/3")})
	if !strings.Contains(ok, "✅ Integration of 1.1.0 (shard 2/3)") {
		t.Errorf("passing comment: %s", ok)
	}
}

func TestJUnitGolden(t *testing.T) {
	j := JUnit(sampleRuns(), time.Time{}, func(target, phase string) string {
		return ".pipeline/reports/integration/" + target + "/" + phase + ".log"
	})
	b, err := j.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.xml", string(b))
	if j.Failures != 3 || j.Errors != 1 || j.Skipped != 2 || j.Tests != 10 {
		t.Errorf("counts: %d tests %d failures %d errors %d skipped", j.Tests, j.Failures, j.Errors, j.Skipped)
	}
}

func TestChildPipelineGolden(t *testing.T) {
	y, err := ChildPipeline(ChildPipelineInput{Targets: []string{"staging-2", "chroot"}, Image: "registry.example/ci:12", Tags: []string{"kvm"}, NeedsJob: "build"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "child-pipeline.yml", y)

	// pipeline.yaml below the repository's top, reports elsewhere: the jobs
	// say where, and keep the report dir they write as artifacts.
	y, err = ChildPipeline(ChildPipelineInput{Targets: []string{"chroot"}, NeedsJob: "build", Dir: "examples/appliance", ReportDir: "out/reports"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "child-pipeline-dir.yml", y)
}
