package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/runners"
)

func mustCheck(t *testing.T, yamlCheck string) *Check {
	t.Helper()
	s, err := ParseSuite("t.yaml", []byte("checks:\n  - id: c\n    "+strings.ReplaceAll(yamlCheck, "\n", "\n    ")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return s.Checks[0]
}

const procNetTCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:0016 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1
`

func TestJudge(t *testing.T) {
	cases := []struct {
		name, check string
		out         runners.Output
		ok          bool
		msg         string
	}{
		{"package at version", "package: {name: a, version: 1.1-1}", out("ii |1.1-1\n"), true, "package a 1.1-1 installed"},
		{"package wrong version", "package: {name: a, version: 1.1-1}", out("ii |1.0-1\n"), false, "package a is at version 1.0-1, want 1.1-1"},
		{"package missing", "package: {name: a}", out("un|\n"), false, "package a is not installed"},
		{"package half-installed", "package: {name: a}", out("iF |1.0\n"), false, `dpkg status "iF"`},
		{"package absent wanted", "package: {name: a, installed: false}", out("un|\n"), true, "absent"},
		{"service pidfile", "service: {name: web, running: true, enabled: true}", out("manager=none\nactive=active\nhow=pidfile /run/web.pid (pid 9)\nenabled=enabled\n"), true, "running=true, enabled=true (pidfile /run/web.pid (pid 9))"},
		{"service not running", "service: {name: web}", out("manager=none\nactive=inactive\nhow=no live pid\nenabled=disabled\n"), false, "service web: running=false, want true"},
		{"service systemd disabled", "service: {name: web, running: true, enabled: true}", out("manager=systemd\nactive=active\nenabled=disabled\n"), false, "enabled=false, want true (disabled)"},
		{"file ok", `file: {path: /etc/x, mode: "0644", owner: root, contains: "/^a=1$/"}`, out("exists=yes\nstat=regular file|644|root|root\ncontent:\nb=2\na=1\n"), true, "/etc/x: file 644 root:root"},
		{"file mode and content", `file: {path: /etc/x, mode: "0600", contains: "needle"}`, out("exists=yes\nstat=regular file|644|root|root\ncontent:\nhay\n"), false, "/etc/x: mode 0644, want 0600; does not contain needle"},
		{"file missing", "file: {path: /etc/x}", out("exists=no\n"), false, "/etc/x does not exist"},
		{"file absent wanted", "file: {path: /etc/x, exists: false}", out("exists=yes\nstat=regular file|644|root|root\n"), false, "/etc/x exists, want it absent"},
		{"file sha", "file: {path: /x, sha256: " + strings.Repeat("a", 64) + "}", out("exists=yes\nstat=regular file|644|root|root\nsha256=" + strings.Repeat("b", 64) + "\n"), false, "sha256 bbbb"},
		{"file type", "file: {path: /x, type: directory}", out("exists=yes\nstat=regular empty file|644|root|root\n"), false, "is a regular empty file, want directory"},
		{"port listening", "port: {port: 8080}", out(procNetTCP), true, "tcp port 8080 listening=true"},
		{"port v6 listening", "port: {port: 80}", out(procNetTCP), true, "tcp port 80 listening=true"},
		{"established is not listening", "port: {port: 22}", out(procNetTCP), false, "nothing listens on tcp port 22"},
		{"port should be closed", "port: {port: 8080, listening: false}", out(procNetTCP), false, "is listening, want nothing there"},
		{"command ok", `command: {run: "x", stdout: "/^v1\\./"}`, runners.Output{Stdout: []byte("v1.2\n")}, true, "exit 0"},
		{"command exact stdout", `command: {run: "x", stdout: "v1"}`, runners.Output{Stdout: []byte("v1.2\n")}, false, `stdout does not match "v1"`},
		{"command exit", `command: {run: "x", exit: 2, stderr: "/usage/"}`, runners.Output{Exit: 1, Stderr: []byte("oops")}, false, `exit status 1, want 2; stderr does not match "/usage/"`},
		{"command timeout", `command: {run: "x"}`, runners.Output{TimedOut: true, Exit: -1, Duration: 5 * time.Second}, false, "timed out after 5s"},
		{"http via curl", `http: {url: "http://h/", body: "/ok/"}`, out("200\nall ok\n"), true, "GET http://h/: 200"},
		{"http status", `http: {url: "http://h/", status: 204}`, out("500\n"), false, "status 500, want 204"},
		{"http no tool", `http: {url: "http://h/"}`, runners.Output{Exit: 127, Stderr: []byte("the http check needs curl or wget on the target")}, false, "needs curl or wget"},
		{"user", "user: {name: app, shell: /bin/false, groups: [adm]}", out("app:x:998:998::/home/app:/usr/sbin/nologin\n--\napp\n"), false, "user app: shell /usr/sbin/nologin, want /bin/false; not in group adm (groups: app)"},
		{"user missing", "user: {name: app}", out("--\n"), false, "user app does not exist"},
		{"user ok", "user: {name: app, uid: 998}", out("app:x:998:998::/home/app:/bin/sh\n--\napp adm\n"), true, "user app uid 998"},
		{"group members", "group: {name: adm, members: [app]}", out("adm:x:4:syslog\n"), false, "app is not a member (members: syslog)"},
		{"group absent", "group: {name: old, exists: false}", out(""), true, "group old is absent"},
		{"kernel", `kernel: {param: net.ipv4.ip_forward, value: "1"}`, out("0\n"), false, `net.ipv4.ip_forward = "0", want "1"`},
		{"kernel spaces", `kernel: {param: net.ipv4.ip_local_port_range, value: "32768 60999"}`, out("32768\t60999\n"), true, "= 32768 60999"},
		{"kernel missing", `kernel: {param: no.such}`, runners.Output{Exit: 1}, false, "does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := mustCheck(t, c.check)
			if Probe(ch) == "" {
				t.Fatal("no probe script")
			}
			v := Judge(ch, c.out)
			if v.OK != c.ok || !strings.Contains(v.Message, c.msg) {
				t.Fatalf("got ok=%v %q, want ok=%v containing %q", v.OK, v.Message, c.ok, c.msg)
			}
		})
	}
}

func out(s string) runners.Output { return runners.Output{Stdout: []byte(s)} }

func TestListeningPorts(t *testing.T) {
	got := ListeningPorts(procNetTCP, false)
	if len(got) != 2 || got[0] != 80 || got[1] != 8080 {
		t.Fatalf("got %v", got)
	}
	udp := "  sl  local_address rem_address   st\n   0: 00000000:0044 00000000:0000 07 0\n   1: 00000000:0045 0100007F:0035 01 0\n"
	if got := ListeningPorts(udp, true); len(got) != 1 || got[0] != 68 {
		t.Fatalf("udp: got %v", got)
	}
}

func TestTAPAndJUnit(t *testing.T) {
	res := ParseTAP("TAP version 13\n1..4\nok 1 - config present\nnot ok 2 - agent answers\n# diag\nok 3 # SKIP no network\nnot ok 4 - flaky # TODO later\n")
	if len(res) != 4 {
		t.Fatalf("got %+v", res)
	}
	if !res[0].OK || res[1].OK || !res[2].Skipped || !res[3].OK || res[0].Name != "1 config present" {
		t.Fatalf("got %+v", res)
	}
	short := ParseTAP("1..3\nok 1\n")
	if last := short[len(short)-1]; last.OK || !strings.Contains(last.Message, "plan says 3 tests, 1 ran") {
		t.Fatalf("short plan: %+v", short)
	}
	if noPlan := ParseTAP("ok 1 - a\n"); noPlan[len(noPlan)-1].OK {
		t.Fatal("a missing plan must fail")
	}
	if bail := ParseTAP("1..2\nok 1\nBail out! disk full\n"); bail[1].OK || bail[1].Message != "Bail out! disk full" {
		t.Fatalf("bail: %+v", bail)
	}

	j, err := ParseJUnit([]byte(`<testsuites><testsuite name="s"><testcase name="a"/><testcase name="b" classname="k"><failure message="boom">trace</failure></testcase><testcase name="c"><skipped/></testcase></testsuite></testsuites>`))
	if err != nil || len(j) != 3 || !j[0].OK || j[0].Name != "s.a" || j[1].OK || j[1].Name != "k.b" || j[1].Message != "boom" || !j[2].Skipped {
		t.Fatalf("junit: %+v %v", j, err)
	}
	if _, err := ParseJUnit([]byte("<html/>")); err == nil {
		t.Fatal("want an error for non-JUnit XML")
	}
}

// A batch gives each check exactly what running it alone gives.
func TestBatchMatchesSingleRuns(t *testing.T) {
	s, err := ParseSuite("b.yaml", []byte(`checks:
  - {id: passwd, file: {path: /etc/passwd, contains: /^root:/}}
  - {id: nofile, file: {path: /no/such/file}}
  - {id: root, user: {name: root}}
  - {id: ghost, group: {name: no-such-group-here}}
  - {id: ostype, kernel: {param: kernel.ostype, value: Linux}}
  - {id: nokernel, kernel: {param: no.such.param}}
  - {id: svc, service: {name: no-such-service, running: false}}
  - {id: cmd, command: {run: "echo hi; echo oops >&2; exit 3"}}
  - id: env
    command: {run: 'printf %s "$PIPELINE_VERSION"', stdout: "2.0"}
  - {id: slow, command: {run: "sleep 1", timeout: 5s}}
  - {id: web, http: {url: "http://127.0.0.1:1/"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	var checks []*Check
	for _, c := range s.Checks {
		if Batchable(c) {
			checks = append(checks, c)
		}
	}
	if len(checks) != 9 {
		t.Fatalf("batchable: %d", len(checks))
	}
	local := &runners.Local{Name: "local"}
	script, marker := BatchScript(checks)
	env := map[string]string{"PIPELINE_VERSION": "2.0"}
	out, err := local.Run(context.Background(), runners.Command{Script: script, Env: env})
	if err != nil || out.Exit != 0 {
		t.Fatalf("batch: %v exit %d %s", err, out.Exit, out.Stderr)
	}
	outs := SplitBatch(string(out.Stdout), marker, len(checks))
	for i, c := range checks {
		single, err := local.Run(context.Background(), runners.Command{Script: Probe(c), Env: env})
		if err != nil {
			t.Fatal(err)
		}
		if outs[i] == nil {
			t.Fatalf("%s: no output in the batch", c.ID)
		}
		vb, vs := Judge(c, *outs[i]), Judge(c, single)
		if vb.OK != vs.OK || vb.Message != vs.Message || vb.Detail != vs.Detail || outs[i].Exit != single.Exit || string(outs[i].Stderr) != string(single.Stderr) && c.Command != nil {
			t.Errorf("%s: batch %+v (exit %d), alone %+v (exit %d)", c.ID, vb, outs[i].Exit, vs, single.Exit)
		}
	}
}
