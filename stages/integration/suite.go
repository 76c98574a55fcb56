package integration

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/yamlbound"
	"go.yaml.in/yaml/v3"
)

// Pos is a place in a suite file, printed as file:line:col.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Suite is one suite file: a name and its checks, in file order.
type Suite struct {
	Name   string
	File   string
	Checks []*Check
}

// Check is one declarative check. Exactly one of the kind fields is set.
type Check struct {
	ID          string
	Description string
	Pos         Pos
	// OnlyOn limits the check to these scenarios (fresh, upgrade).
	OnlyOn []string
	// Within retries a failing check until it passes or this long has
	// passed (readiness of a service); Every is the pause between tries.
	Within, Every time.Duration

	Package *PackageCheck
	Service *ServiceCheck
	File    *FileCheck
	Port    *PortCheck
	Command *CommandCheck
	HTTP    *HTTPCheck
	User    *UserCheck
	Group   *GroupCheck
	Kernel  *KernelCheck
	Script  *ScriptCheck
}

// Kind is the check's kind as written in the suite (package, service, ...).
func (c *Check) Kind() string {
	for _, k := range checkKinds {
		if !reflect.ValueOf(c).Elem().FieldByName(k.field).IsNil() {
			return k.key
		}
	}
	return ""
}

// Applies reports whether the check runs in the scenario.
func (c *Check) Applies(scenario string) bool {
	if len(c.OnlyOn) == 0 {
		return true
	}
	for _, s := range c.OnlyOn {
		if s == scenario {
			return true
		}
	}
	return false
}

// PackageCheck: the package is installed (at exactly Version when given),
// or absent with installed: false.
type PackageCheck struct {
	Name      string `yaml:"name"`
	Version   string `yaml:"version"`
	Installed *bool  `yaml:"installed"`
}

// ServiceCheck: the service is running and/or enabled. Where systemd is
// PID 1 it asks systemctl; elsewhere (chroot, containers) "running" means
// the process in Pidfile (default /run/NAME.pid) is alive, or else a
// process named Process (default NAME) exists, and "enabled" means a
// systemd wants/ link or an rc?.d S link exists.
type ServiceCheck struct {
	Name    string `yaml:"name"`
	Running *bool  `yaml:"running"`
	Enabled *bool  `yaml:"enabled"`
	Pidfile string `yaml:"pidfile"`
	Process string `yaml:"process"`
}

// FileCheck: a path exists (or not) with the given type, mode, owner,
// group, sha256 and content.
type FileCheck struct {
	Path   string `yaml:"path"`
	Exists *bool  `yaml:"exists"`
	Type   string `yaml:"type"` // file, directory, symlink
	Mode   string `yaml:"mode"` // octal, "0644"
	Owner  string `yaml:"owner"`
	Group  string `yaml:"group"`
	SHA256 string `yaml:"sha256"`
	// Contains is /regex/ or a literal substring.
	Contains string `yaml:"contains"`
}

// PortCheck: something listens (or not) on the port.
type PortCheck struct {
	Port      int    `yaml:"port"`
	Proto     string `yaml:"proto"` // tcp (default) or udp
	Listening *bool  `yaml:"listening"`
}

// CommandCheck: a command's exit status and output. Stdout and Stderr are
// /regex/ or an exact text (a trailing newline ignored).
type CommandCheck struct {
	Run     string        `yaml:"run"`
	Exit    *int          `yaml:"exit"`
	Stdout  string        `yaml:"stdout"`
	Stderr  string        `yaml:"stderr"`
	Timeout time.Duration `yaml:"timeout"`
}

// HTTPCheck: a GET of URL, as seen from the target, answers Status (default
// 200) with a body matching Body (/regex/ or literal substring).
type HTTPCheck struct {
	URL     string        `yaml:"url"`
	Status  int           `yaml:"status"`
	Body    string        `yaml:"body"`
	Timeout time.Duration `yaml:"timeout"`
}

// UserCheck: a user exists (or not), with uid, shell, home and groups.
type UserCheck struct {
	Name   string   `yaml:"name"`
	Exists *bool    `yaml:"exists"`
	UID    *int     `yaml:"uid"`
	Shell  string   `yaml:"shell"`
	Home   string   `yaml:"home"`
	Groups []string `yaml:"groups"`
}

// GroupCheck: a group exists (or not), with gid and members.
type GroupCheck struct {
	Name    string   `yaml:"name"`
	Exists  *bool    `yaml:"exists"`
	GID     *int     `yaml:"gid"`
	Members []string `yaml:"members"`
}

// KernelCheck: a kernel parameter (sysctl name) has Value.
type KernelCheck struct {
	Param string `yaml:"param"`
	Value string `yaml:"value"`
}

// ScriptCheck: a plain test script from the repository, copied to the
// target and run there. Format says how its result is read: exit (the exit
// status), tap (TAP on stdout, one case per test line) or junit (JUnit XML
// on stdout, or in the file Report on the target).
type ScriptCheck struct {
	Path    string        `yaml:"path"` // relative to the suite file
	Args    []string      `yaml:"args"`
	Format  string        `yaml:"format"`
	Report  string        `yaml:"report"`
	Timeout time.Duration `yaml:"timeout"`
	// Local is Path resolved on this machine (set by the parser).
	Local string `yaml:"-"`
}

var checkKinds = []struct{ key, field string }{
	{"package", "Package"}, {"service", "Service"}, {"file", "File"}, {"port", "Port"},
	{"command", "Command"}, {"http", "HTTP"}, {"user", "User"}, {"group", "Group"},
	{"kernel", "Kernel"}, {"script", "Script"},
}

// Scenarios are the names only_on accepts.
var Scenarios = []string{Fresh, Upgrade}

const (
	Fresh   = "fresh"
	Upgrade = "upgrade"
)

var idPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })

// SuiteError is every problem found in one suite file, each with its
// position.
type SuiteError struct{ Problems []string }

func (e *SuiteError) Error() string { return strings.Join(e.Problems, "\n") }

// ParseSuite decodes a suite file. It is strict: unknown keys, duplicate
// keys, missing or duplicate ids, a check with no kind or two kinds, and
// bad values are all errors naming file:line:col. file is the name used in
// messages and to resolve script paths.
//
// The walk below is the second YAML walker of the repository (the config
// decoder is the first): folding it into internal/config's decoder waits
// for the integration steps refactor (#17), which owns this file.
func ParseSuite(file string, data []byte) (*Suite, error) {
	p := &parser{file: file}
	var doc yaml.Node
	err := yamlbound.Check(data)
	if err == nil {
		err = yaml.Unmarshal(data, &doc)
	}
	if err != nil {
		line, col, msg := config.YAMLSyntax(data, err)
		if line > 0 {
			return nil, &SuiteError{[]string{fmt.Sprintf("%s:%d:%d: %s", file, line, col, msg)}}
		}
		return nil, &SuiteError{[]string{fmt.Sprintf("%s: %s", file, msg)}}
	}
	s := &Suite{File: file, Name: strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))}
	if len(doc.Content) == 0 {
		return nil, &SuiteError{[]string{file + ": the suite is empty: want `checks:` with a list of checks"}}
	}
	root := doc.Content[0]
	fields := p.mapping(root, "the suite", "suite", "description", "checks")
	if n := fields["suite"]; n != nil {
		p.decode(n, &s.Name)
		if !idPattern().MatchString(s.Name) {
			p.errf(n, "suite name %q: use letters, digits, '.', '_' and '-'", s.Name)
		}
	}
	checks := fields["checks"]
	if checks == nil {
		if root.Kind == yaml.MappingNode {
			p.errf(root, "no `checks:` list")
		}
	} else if checks.Kind != yaml.SequenceNode {
		p.errf(checks, "`checks:` must be a list of checks")
	} else {
		seen := map[string]Pos{}
		for _, n := range checks.Content {
			c := p.check(n)
			if c == nil {
				continue
			}
			if first, dup := seen[c.ID]; dup {
				p.errf(n, "duplicate check id %q (first at %s): ids must be unique in a suite", c.ID, first)
				continue
			}
			seen[c.ID] = c.Pos
			s.Checks = append(s.Checks, c)
		}
		if len(checks.Content) == 0 {
			p.errf(checks, "`checks:` is empty")
		}
	}
	if len(p.problems) > 0 {
		return nil, &SuiteError{p.problems}
	}
	return s, nil
}

type parser struct {
	file     string
	problems []string
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{p.file, n.Line, n.Column} }

func (p *parser) errf(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, p.pos(n).String()+": "+fmt.Sprintf(format, args...))
}

// mapping returns the values of a mapping node by key, reporting unknown
// and duplicate keys.
func (p *parser) mapping(n *yaml.Node, what string, known ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		p.errf(n, "%s must be a mapping (key: value)", what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(known, k.Value) {
			p.errf(k, "unknown key %q in %s (known: %s)", k.Value, what, strings.Join(known, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errf(k, "key %q given twice in %s", k.Value, what)
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (p *parser) decode(n *yaml.Node, v any) bool {
	if err := n.Decode(v); err != nil {
		msg := err.Error()
		if te := (*yaml.TypeError)(nil); errors.As(err, &te) {
			msg = strings.Join(te.Errors, "; ")
		}
		msg = yamlLinePrefix().ReplaceAllString(strings.TrimPrefix(msg, "yaml: "), "")
		p.errf(n, "%s", msg)
		return false
	}
	return true
}

var checkKeys = func() []string {
	keys := []string{"id", "description", "only_on", "within", "every"}
	for _, k := range checkKinds {
		keys = append(keys, k.key)
	}
	return keys
}()

func (p *parser) check(n *yaml.Node) *Check {
	before := len(p.problems)
	c := &Check{Pos: p.pos(n)}
	f := p.mapping(n, "a check", checkKeys...)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if id := f["id"]; id == nil {
		p.errf(n, "check has no `id:`: give every check an explicit, unique id")
	} else if p.decode(id, &c.ID) && !idPattern().MatchString(c.ID) {
		p.errf(id, "check id %q: use letters, digits, '.', '_' and '-'", c.ID)
	}
	if d := f["description"]; d != nil {
		p.decode(d, &c.Description)
	}
	if o := f["only_on"]; o != nil {
		if o.Kind == yaml.ScalarNode {
			c.OnlyOn = []string{o.Value}
		} else {
			p.decode(o, &c.OnlyOn)
		}
		for _, s := range c.OnlyOn {
			if !contains(Scenarios, s) {
				p.errf(o, "only_on %q: the scenarios are %s", s, strings.Join(Scenarios, ", "))
			}
		}
	}
	c.Within = p.duration(f["within"])
	c.Every = p.duration(f["every"])
	var kinds []string
	for _, k := range checkKinds {
		v := f[k.key]
		if v == nil {
			continue
		}
		kinds = append(kinds, k.key)
		field := reflect.ValueOf(c).Elem().FieldByName(k.field)
		ptr := reflect.New(field.Type().Elem())
		p.strict(v, ptr.Type().Elem(), k.key+" check")
		if p.decodeKind(v, ptr.Interface()) {
			field.Set(ptr)
		}
	}
	switch len(kinds) {
	case 0:
		p.errf(n, "check %q has no kind: give one of %s", c.ID, kindList())
	case 1:
	default:
		p.errf(n, "check %q has %d kinds (%s): one check, one kind; split it into several checks", c.ID, len(kinds), strings.Join(kinds, ", "))
	}
	if len(p.problems) == before && len(kinds) == 1 {
		p.validate(n, c)
	}
	if len(p.problems) > before {
		return nil
	}
	return c
}

func kindList() string {
	var ks []string
	for _, k := range checkKinds {
		ks = append(ks, k.key)
	}
	return strings.Join(ks, ", ")
}

func (p *parser) duration(n *yaml.Node) time.Duration {
	if n == nil {
		return 0
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode || d < 0 {
		p.errf(n, "%q is not a duration: want a number and a unit, such as 30s or 2m", n.Value)
		return 0
	}
	return d
}

// decodeKind decodes a kind's mapping, reading durations written as "30s".
func (p *parser) decodeKind(n *yaml.Node, v any) bool {
	if n.Kind != yaml.MappingNode {
		return false // reported by strict
	}
	rv := reflect.ValueOf(v).Elem()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		f, ok := fieldByTag(rv.Type(), k.Value)
		if !ok {
			continue // reported by strict
		}
		fv := rv.FieldByIndex(f.Index)
		if f.Type == reflect.TypeOf(time.Duration(0)) {
			fv.SetInt(int64(p.duration(val)))
			continue
		}
		if !p.decode(val, fv.Addr().Interface()) {
			return false
		}
	}
	return true
}

// strict reports keys of n that t has no field for.
func (p *parser) strict(n *yaml.Node, t reflect.Type, what string) {
	var known []string
	for i := 0; i < t.NumField(); i++ {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			known = append(known, tag)
		}
	}
	p.mapping(n, "the "+what, known...)
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0] == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// yamlLinePrefix is yaml.v3's own "line N: " prefix, redundant after ours.
var yamlLinePrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(^|; )line \d+: `) })

var modePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^0?[0-7]{3,4}$`) })
var sha256Pattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{64}$`) })

// validate checks the values of a decoded check: required fields, enums,
// patterns that must compile.
func (p *parser) validate(n *yaml.Node, c *Check) {
	need := func(v, key string) {
		if v == "" {
			p.errf(n, "check %q: %s: `%s:` is required", c.ID, c.Kind(), key)
		}
	}
	matcher := func(v, key string) {
		if _, err := compileMatcher(v); err != nil {
			p.errf(n, "check %q: %s: %v", c.ID, key, err)
		}
	}
	switch {
	case c.Package != nil:
		need(c.Package.Name, "name")
	case c.Service != nil:
		need(c.Service.Name, "name")
		if c.Service.Running == nil && c.Service.Enabled == nil {
			t := true
			c.Service.Running = &t
		}
	case c.File != nil:
		need(c.File.Path, "path")
		if c.File.Type != "" && !contains([]string{"file", "directory", "symlink"}, c.File.Type) {
			p.errf(n, "check %q: file type %q: want file, directory or symlink", c.ID, c.File.Type)
		}
		if c.File.Mode != "" && !modePattern().MatchString(c.File.Mode) {
			p.errf(n, "check %q: file mode %q: want octal such as \"0644\" (quote it, or YAML reads a number)", c.ID, c.File.Mode)
		}
		if c.File.SHA256 != "" && !sha256Pattern().MatchString(c.File.SHA256) {
			p.errf(n, "check %q: sha256 %q: want 64 lowercase hex digits", c.ID, c.File.SHA256)
		}
		matcher(c.File.Contains, "contains")
	case c.Port != nil:
		if c.Port.Port <= 0 || c.Port.Port > 65535 {
			p.errf(n, "check %q: port %d: want 1-65535", c.ID, c.Port.Port)
		}
		if c.Port.Proto == "" {
			c.Port.Proto = "tcp"
		}
		if c.Port.Proto != "tcp" && c.Port.Proto != "udp" {
			p.errf(n, "check %q: proto %q: want tcp or udp", c.ID, c.Port.Proto)
		}
	case c.Command != nil:
		need(c.Command.Run, "run")
		matcher(c.Command.Stdout, "stdout")
		matcher(c.Command.Stderr, "stderr")
	case c.HTTP != nil:
		need(c.HTTP.URL, "url")
		if !strings.HasPrefix(c.HTTP.URL, "http://") && !strings.HasPrefix(c.HTTP.URL, "https://") {
			p.errf(n, "check %q: url %q: want http:// or https://", c.ID, c.HTTP.URL)
		}
		if c.HTTP.Status == 0 {
			c.HTTP.Status = 200
		}
		matcher(c.HTTP.Body, "body")
	case c.User != nil:
		need(c.User.Name, "name")
	case c.Group != nil:
		need(c.Group.Name, "name")
	case c.Kernel != nil:
		need(c.Kernel.Param, "param")
		if strings.ContainsAny(c.Kernel.Param, " /'\"") {
			p.errf(n, "check %q: kernel param %q: write it as sysctl does (net.ipv4.ip_forward)", c.ID, c.Kernel.Param)
		}
	case c.Script != nil:
		need(c.Script.Path, "path")
		switch c.Script.Format {
		case "":
			c.Script.Format = "exit"
		case "exit", "tap", "junit":
		default:
			p.errf(n, "check %q: script format %q: want exit, tap or junit", c.ID, c.Script.Format)
		}
		c.Script.Local = filepath.Join(filepath.Dir(p.file), c.Script.Path)
	}
}

// matcher is /regex/ or a literal.
type matcher struct {
	re      *regexp.Regexp
	literal string
}

func compileMatcher(s string) (*matcher, error) {
	if len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		re, err := regexp.Compile("(?m)" + s[1:len(s)-1])
		if err != nil {
			return nil, fmt.Errorf("bad regular expression %s: %w", s, err)
		}
		return &matcher{re: re}, nil
	}
	return &matcher{literal: s}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkSuiteNames reports suite names used by more than one file: the name
// is the first part of every JUnit classname, so it must be unique.
func checkSuiteNames(suites []*Suite) error {
	seen := map[string]string{}
	var problems []string
	for _, s := range suites {
		if f, dup := seen[s.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s: suite name %q is also used by %s: suite names must be unique", s.File, s.Name, f))
		}
		seen[s.Name] = s.File
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		return &SuiteError{problems}
	}
	return nil
}
