package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

func TestParseSuiteAllKinds(t *testing.T) {
	src := `suite: web
checks:
  - id: pkg
    package: {name: appliance-agent, version: 1.1.0-1}
  - id: svc
    service: {name: appliance-agent, enabled: true}
    within: 30s
    every: 2s
  - id: conf
    file: {path: /etc/appliance/agent.conf, mode: "0644", owner: root, contains: "/^INTERVAL=\\d+$/"}
    only_on: fresh
  - id: port
    port: {port: 8080}
  - id: cmd
    command: {run: "appliance-agent --version", stdout: "/1\\.1\\.0/", timeout: 5s}
    only_on: [fresh, upgrade]
  - id: http
    http: {url: "http://127.0.0.1:8080/health", body: ok}
  - id: user
    user: {name: appliance, groups: [adm]}
  - id: group
    group: {name: appliance}
  - id: fwd
    kernel: {param: net.ipv4.ip_forward, value: "0"}
  - id: smoke
    script: {path: tests/smoke.sh, format: tap}
`
	s, err := ParseSuite("suites/web.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "web" || len(s.Checks) != 10 {
		t.Fatalf("got suite %q with %d checks", s.Name, len(s.Checks))
	}
	kinds := []string{"package", "service", "file", "port", "command", "http", "user", "group", "kernel", "script"}
	for i, k := range kinds {
		if got := s.Checks[i].Kind(); got != k {
			t.Errorf("check %d: kind %q, want %q", i, got, k)
		}
	}
	svc := s.Checks[1]
	if svc.Within != 30*time.Second || svc.Every != 2*time.Second || svc.Service.Running != nil || !*svc.Service.Enabled {
		t.Errorf("service check: %+v %+v", svc, svc.Service)
	}
	if s.Checks[2].Pos.String() != "suites/web.yaml:9:5" {
		t.Errorf("position %s", s.Checks[2].Pos)
	}
	if !s.Checks[2].Applies(Fresh) || s.Checks[2].Applies(Upgrade) {
		t.Error("only_on: fresh")
	}
	if s.Checks[3].Port.Proto != "tcp" || s.Checks[5].HTTP.Status != 200 {
		t.Error("defaults: proto tcp, status 200")
	}
	if s.Checks[4].Command.Timeout != 5*time.Second {
		t.Errorf("command timeout %s", s.Checks[4].Command.Timeout)
	}
	if s.Checks[9].Script.Local != "suites/tests/smoke.sh" {
		t.Errorf("script resolved to %q", s.Checks[9].Script.Local)
	}
}

func TestParseSuiteErrorsNamePositions(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown key", "checks:\n  - id: a\n    pakage: {name: x}\n", `s.yaml:3:5: unknown key "pakage" in a check`},
		{"unknown kind key", "checks:\n  - id: a\n    package: {name: x, versoin: 1}\n", `s.yaml:3:24: unknown key "versoin" in the package check`},
		{"duplicate id", "checks:\n  - id: a\n    package: {name: x}\n  - id: a\n    package: {name: y}\n", `s.yaml:4:5: duplicate check id "a" (first at s.yaml:2:5)`},
		{"duplicate key", "checks:\n  - id: a\n    id: b\n    package: {name: x}\n", `s.yaml:3:5: key "id" given twice`},
		{"no id", "checks:\n  - package: {name: x}\n", `s.yaml:2:5: check has no ` + "`id:`"},
		{"no kind", "checks:\n  - id: a\n", `s.yaml:2:5: check "a" has no kind`},
		{"two kinds", "checks:\n  - id: a\n    package: {name: x}\n    port: {port: 1}\n", `check "a" has 2 kinds (package, port)`},
		{"bad scenario", "checks:\n  - id: a\n    only_on: [fresh, staging]\n    package: {name: x}\n", `s.yaml:3:14: only_on "staging": the scenarios are fresh, upgrade`},
		{"bad duration", "checks:\n  - id: a\n    within: soon\n    package: {name: x}\n", `s.yaml:3:13: "soon" is not a duration`},
		{"bad type", "checks:\n  - id: a\n    port: {port: eighty}\n", "s.yaml:3:18: cannot unmarshal !!str `eighty` into int"},
		{"bad regex", "checks:\n  - id: a\n    command: {run: x, stdout: \"/(/\"}\n", `s.yaml:2:5: check "a": stdout: bad regular expression /(/`},
		{"bad mode", "checks:\n  - id: a\n    file: {path: /x, mode: rw-r--r--}\n", `file mode "rw-r--r--": want octal`},
		{"missing required", "checks:\n  - id: a\n    command: {stdout: x}\n", "command: `run:` is required"},
		{"yaml syntax", "checks:\n  - id: a\n   bad\n", `s.yaml:3:4: YAML syntax`},
		{"too deep", "checks:\n  - id: a\n    command: {run: " + strings.Repeat("[", 100_000) + "\n", "s.yaml:3:80: nesting deeper than 64 levels"},
		{"empty", "", "the suite is empty"},
		{"not a list", "checks: {id: a}\n", "s.yaml:1:9: `checks:` must be a list"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSuite("s.yaml", []byte(c.src))
			if err == nil || !strings.Contains(errs.Format(err), c.want) {
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
		})
	}
}

func TestSuiteNamesUnique(t *testing.T) {
	a, _ := ParseSuite("a/web.yaml", []byte("checks:\n  - {id: x, port: {port: 1}}\n"))
	b, _ := ParseSuite("b/web.yaml", []byte("checks:\n  - {id: x, port: {port: 1}}\n"))
	if err := checkSuiteNames([]*Suite{a, b}); err == nil || !strings.Contains(errs.Format(err), `suite name "web" is also used by a/web.yaml`) {
		t.Fatalf("got %v", err)
	}
}

func FuzzParseSuite(f *testing.F) {
	f.Add([]byte("checks:\n  - id: a\n    package: {name: x}\n"))
	f.Add([]byte("checks:\n  - id: a\n    file: {path: /x, mode: '0644', contains: /a/}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSuite("f.yaml", data)
		if err == nil {
			for _, c := range s.Checks {
				if c.ID == "" || c.Kind() == "" {
					t.Fatalf("accepted a check without id or kind: %+v", c)
				}
			}
		}
	})
}
