package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// maxSteps bounds the values one file may expand to, counting each use of
// an alias: a few aliases of aliases could otherwise make a tiny file
// decode for ever.
const maxSteps = 100000

// decoder walks yaml.v3 nodes against Go values by reflection, collecting
// every problem instead of stopping at the first.
type decoder struct {
	lookup func(string) (string, bool)
	probs  []Problem
	steps  int
	// outer holds the mappings being decoded around the current one, to
	// tell that an unknown key is one of theirs, indented too far.
	outer []outerMapping
	// noValidate skips the Validators: only the rules the schema also has.
	noValidate bool

	// section is the top-level key being decoded ("" outside them).
	section string
	// deferred holds, per stage section, the problems that depend on the
	// environment (see envAdd); nDeferred counts them.
	deferred  map[string][]Problem
	nDeferred int
	// empties are the string values written with ${…} that expanded to
	// empty, by dotted path; Msg is the text as written.
	empties map[string]Problem
}

func (d *decoder) add(n *yaml.Node, path, format string, args ...any) {
	d.probs = append(d.probs, problemAt(n, path, fmt.Sprintf(format, args...)))
}

func problemAt(n *yaml.Node, path, msg string) Problem {
	p := Problem{Path: path, Msg: msg}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	return p
}

// envAdd reports a problem that depends on the environment: an unset
// variable, a value that expanded to the wrong type or to empty. In a
// stage's section (a top-level key named in AllStages) it waits for that
// stage, which asks Config.Check before it runs: a build job does not
// have the variables only the integration job is given. Anywhere else it
// is reported now.
func (d *decoder) envAdd(p Problem) {
	if contains(AllStages, d.section) {
		if d.deferred == nil {
			d.deferred = map[string][]Problem{}
		}
		d.deferred[d.section] = append(d.deferred[d.section], p)
		d.nDeferred++
		return
	}
	d.probs = append(d.probs, p)
}

// count is every problem found so far, deferred ones included: a struct
// with any is not given to its Validator.
func (d *decoder) count() int { return len(d.probs) + d.nDeferred }

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// coreTag tells whether a node's tag is one of YAML's own (written or
// resolved): !!str, !!int, !!map… A custom tag (!reference, !Ref) would
// be silently dropped, so it is refused.
func coreTag(n *yaml.Node) bool {
	switch n.ShortTag() {
	case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp", "!!map", "!!seq", "!!merge":
		return true
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decode sets v from node n. path names the value in messages; f is the
// struct field v belongs to (nil for the top level), whose tags still apply
// to the items of a list; key is the node that names v in its parent
// mapping, where "missing key" problems are reported.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, f *fieldInfo, key *yaml.Node) {
	n = deref(n)
	if n == nil {
		return
	}
	if d.steps++; d.steps > maxSteps {
		if d.steps == maxSteps+1 {
			d.add(n, path, "the file expands to more than %d values (counting each use of an alias) — is an alias repeated by mistake?", maxSteps)
		}
		return
	}
	if !coreTag(n) {
		msg := fmt.Sprintf("the YAML tag %q is not supported: remove it (pipeline.yaml holds plain values)", n.Tag)
		if n.Tag == "!reference" {
			msg += "; GitLab's !reference works in .gitlab-ci.yml only: use a YAML anchor (&name, *name)"
		}
		d.add(n, path, "%s", msg)
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		if isNull(n) {
			v.Set(reflect.Zero(t))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path, f, key)
		return
	case f != nil && f.env && t.Kind() == reflect.String:
		d.envName(n, v, path, f)
		return
	case isUnmarshaler(t):
		d.unmarshaler(n, v, path)
		return
	case t == timeDurationType:
		var dur Duration
		d.unmarshaler(n, reflect.ValueOf(&dur).Elem(), path)
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.structure(n, v, path, key, false)
	case reflect.Slice:
		d.slice(n, v, path, f)
	case reflect.Map:
		d.mapping(n, v, path, f)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.add(n, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.scalar(n, v, path, f)
	}
}

// structure decodes a mapping onto a struct: every key must be a field,
// required fields must be present, and a Validator is asked after.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, key *yaml.Node, top bool) {
	t := v.Type()
	if isNull(n) { // "build:" with nothing under it: keep the defaults
		d.validateTree(v, path, key)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "want %s, got %s", want(t), describe(n))
		return
	}
	before := d.count()
	if top {
		// A stage section's deferred problems are that stage's: the top
		// level's own rules still apply.
		before = len(d.probs)
	}
	fields := fieldsOf(t)
	d.outer = append(d.outer, outerMapping{path, fields})
	defer func() { d.outer = d.outer[:len(d.outer)-1] }()
	seen := map[string]bool{}
	for _, p := range d.pairs(n, path) {
		name := p.key.Value
		if top && strings.HasPrefix(name, "x-") {
			continue
		}
		f := findField(fields, name)
		if f == nil {
			d.unknownKey(p.key, joinPath(path, name), name, fields)
			continue
		}
		seen[name] = true
		if top {
			d.section = name
		}
		d.decode(p.val, v.FieldByIndex(f.index), joinPath(path, name), f, p.key)
		if top {
			d.section = ""
		}
	}
	for i := range fields {
		f := &fields[i]
		if seen[f.name] {
			continue
		}
		if f.required {
			msg := fmt.Sprintf("missing required key %q", f.name)
			if f.doc != "" {
				msg += " — " + lowerFirst(strings.TrimSuffix(f.doc, "."))
			}
			d.add(key, path, "%s", msg)
			continue
		}
		// Not in the file: the default stays, and is checked like the rest.
		d.validateTree(v.FieldByIndex(f.index), joinPath(path, f.name), key)
	}
	now := d.count()
	if top {
		now = len(d.probs)
	}
	if now == before {
		d.validate(v, n, path, key)
	}
}

func findField(fs []fieldInfo, name string) *fieldInfo {
	for i := range fs {
		if fs[i].name == name {
			return &fs[i]
		}
	}
	return nil
}

func (d *decoder) unknownKey(k *yaml.Node, path, name string, fields []fieldInfo) {
	names := fieldNames(fields)
	known := "(known keys: " + list(names, 12) + ")"
	if f := findField(fields, name+"_env"); f != nil {
		d.add(k, path, "unknown key %q — did you mean %q? pipeline.yaml never holds a secret: keep it in a CI/CD variable and write the variable's name, e.g. %s: %s",
			name, f.name, f.name, exampleEnvName(f.name))
		return
	}
	// A one-letter typo beats a key of a nested mapping, which beats a
	// farther typo.
	s, dist := suggestDist(name, names)
	homes := homesOf(fields, name)
	if s != "" && (dist <= 1 || len(homes) == 0) {
		d.add(k, path, "unknown key %q — did you mean %q? %s", name, s, known)
		return
	}
	if len(homes) > 0 {
		d.add(k, path, "unknown key %q here — it belongs under %s: check the indentation %s", name, strings.Join(homes, " or "), known)
		return
	}
	// The mapping being decoded is the last of d.outer: look around it.
	for i := len(d.outer) - 2; i >= 0; i-- {
		if findField(d.outer[i].fields, name) != nil {
			where := "the top level"
			if d.outer[i].path != "" {
				where = d.outer[i].path
			}
			d.add(k, path, "unknown key %q here — it is a key of %s: indent it less %s", name, where, known)
			return
		}
	}
	d.add(k, path, "unknown key %q %s", name, known)
}

// homesOf lists the mappings one level down that have the key name: where
// a key usually belongs when it is found at the wrong indentation.
func homesOf(fields []fieldInfo, name string) []string {
	var out []string
	for _, f := range fields {
		t := f.typ
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct && !isUnmarshaler(t) && findField(fieldsOf(t), name) != nil {
			out = append(out, f.name)
		}
	}
	return out
}

type pair struct{ key, val *yaml.Node }

type outerMapping struct {
	path   string
	fields []fieldInfo
}

// pairs lists a mapping's keys and values, reporting keys that are not text
// and duplicates, and applying YAML merge keys (<<: *anchor): merged keys
// come after the explicit ones, which win.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var explicit, merged []pair
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := deref(n.Content[i]), n.Content[i+1]
		if k == nil {
			continue
		}
		if !coreTag(k) {
			d.add(k, path, "the YAML tag %q is not supported: remove it", k.Tag)
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.add(k, path, "want a key name (text), got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(val, path)...)
			continue
		}
		if prev := first[k.Value]; prev != nil {
			d.add(k, joinPath(path, k.Value), "duplicate key %q (first at line %d) — keep one", k.Value, prev.Line)
			continue
		}
		first[k.Value] = k
		explicit = append(explicit, pair{k, val})
	}
	for _, p := range merged {
		if first[p.key.Value] == nil {
			first[p.key.Value] = p.key
			explicit = append(explicit, p)
		}
	}
	return explicit
}

// merge returns the pairs a << key brings in: one mapping, or a list of
// them where the earlier ones win.
func (d *decoder) merge(val *yaml.Node, path string) []pair {
	val = deref(val)
	if d.steps++; d.steps > maxSteps {
		return nil
	}
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(val, path)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range val.Content {
			item = deref(item)
			if item.Kind != yaml.MappingNode {
				d.add(item, path, "<< merges mappings: want <<: *anchor or <<: [*a, *b], got %s", describe(item))
				continue
			}
			for _, p := range d.pairs(item, path) {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	d.add(val, path, "<< merges mappings: want <<: *anchor or <<: [*a, *b], got %s", describe(val))
	return nil
}

func (d *decoder) slice(n *yaml.Node, v reflect.Value, path string, f *fieldInfo) {
	if isNull(n) { // "stages:" with nothing: keep the default
		d.validateTree(v, path, n)
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.add(n, path, "want %s, got %s", want(v.Type()), describe(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, out.Index(i), fmtIndex(path, i), f, item)
	}
	v.Set(out)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, f *fieldInfo) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.add(n, path, "cannot be read from YAML: its Go type %s has keys that are not strings", t)
		return
	}
	if isNull(n) {
		d.validateTree(v, path, n)
		return
	}
	if n.Kind != yaml.MappingNode {
		d.add(n, path, "want %s, got %s", want(t), describe(n))
		return
	}
	m := reflect.MakeMap(t)
	for _, k := range v.MapKeys() { // start from the defaults
		m.SetMapIndex(k, v.MapIndex(k))
	}
	for _, p := range d.pairs(n, path) {
		p.key = deref(p.key)
		kpath := joinPath(path, p.key.Value)
		if p.key.ShortTag() != "!!str" {
			d.add(p.key, kpath, "want a name (text) as key, got %s — quote it", describe(p.key))
			continue
		}
		kv := reflect.ValueOf(p.key.Value).Convert(t.Key())
		elem := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(kv); old.IsValid() {
			elem.Set(old)
		}
		d.decode(p.val, elem, kpath, f, p.key)
		m.SetMapIndex(kv, elem)
	}
	v.Set(m)
}

// scalar decodes strings, bools and numbers, after ${VAR} expansion. A
// value that came (in part) from the environment is typed by its expanded
// text; one written in the file must already have the right YAML type.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string, f *fieldInfo) {
	t := v.Type()
	if n.Kind != yaml.ScalarNode {
		d.add(n, path, "want %s, got %s", want(t), describe(n))
		return
	}
	if isNull(n) {
		d.add(n, path, "has no value — want %s (or remove the key to keep the default)", want(t))
		return
	}
	text, tag := n.Value, n.ShortTag()
	fromEnv := false
	out, changed, probs := expand(text, d.lookup)
	if len(probs) > 0 {
		for _, p := range probs {
			d.addAt(n, p, path)
		}
		return
	}
	if changed {
		text, fromEnv = out, true
		tag = (&yaml.Node{Kind: yaml.ScalarNode, Value: text}).ShortTag()
	}
	// report is add, for a problem with the value: one that came from the
	// environment may wait for its stage (envAdd).
	report := func(format string, args ...any) {
		p := problemAt(n, path, fmt.Sprintf(format, args...))
		if fromEnv {
			d.envAdd(p)
			return
		}
		d.probs = append(d.probs, p)
	}
	bad := func() {
		msg := fmt.Sprintf("want %s, got %s", want(t), describeText(text, tag, fromEnv))
		if unquoted := (&yaml.Node{Kind: yaml.ScalarNode, Value: text}).ShortTag(); n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 && unquoted != "!!str" {
			msg += " — remove the quotes"
		}
		report("%s", msg)
	}
	enumText := text
	switch t.Kind() {
	case reflect.String:
		if !fromEnv && tag != "!!str" && tag != "!!timestamp" {
			d.add(n, path, "want a string, got %s — quote it (%s) to keep it as written", describe(n), strconv.Quote(text))
			return
		}
		if fromEnv && text == "" && !d.expandedEmpty(n, path, f) {
			return
		}
		v.SetString(text)
	case reflect.Bool:
		if tag != "!!bool" {
			bad()
			return
		}
		v.SetBool(strings.EqualFold(text, "true"))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := wholeNumber(text, tag)
		if !ok {
			bad()
			return
		}
		if i.neg && i.u > 1<<63 || !i.neg && i.u > math.MaxInt64 || v.OverflowInt(i.int()) {
			report("%s is out of range for this value (%s)", text, t)
			return
		}
		v.SetInt(i.int())
		enumText = strconv.FormatInt(i.int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := wholeNumber(text, tag)
		if !ok || i.neg && i.u != 0 {
			bad()
			return
		}
		if v.OverflowUint(i.u) {
			report("%s is out of range for this value (%s)", text, t)
			return
		}
		v.SetUint(i.u)
		enumText = strconv.FormatUint(i.u, 10)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(strings.ReplaceAll(text, "_", ""), 64)
		if (tag != "!!float" && tag != "!!int") || err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
			bad()
			return
		}
		v.SetFloat(x)
	default:
		d.add(n, path, "cannot be read from YAML: its Go type is %s", t)
		return
	}
	if f != nil && len(f.enum) > 0 && !contains(f.enum, enumText) {
		shown := enumText
		if t.Kind() == reflect.String {
			shown = strconv.Quote(enumText)
		}
		if s := suggest(enumText, f.enum); s != "" && t.Kind() == reflect.String {
			report("unsupported value %s — did you mean %q? (want one of: %s)", shown, s, strings.Join(f.enum, ", "))
		} else {
			report("unsupported value %s — want one of: %s", shown, strings.Join(f.enum, ", "))
		}
	}
}

// addAt reports a problem of a ${…} at its byte offset inside a scalar:
// exact for a one-line plain or quoted scalar without escapes, else at the
// scalar. An unset variable depends on the environment (envAdd).
func (d *decoder) addAt(n *yaml.Node, ep expandProblem, path string) {
	p := Problem{Line: n.Line, Col: n.Column, Path: path, Msg: ep.Msg}
	if !strings.ContainsAny(n.Value, "\n\\\"'\t") {
		switch n.Style {
		case 0, yaml.FlowStyle:
			p.Col += utf8.RuneCountInString(n.Value[:ep.Offset])
		case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
			p.Col += 1 + utf8.RuneCountInString(n.Value[:ep.Offset])
		}
	}
	if ep.Unset {
		d.envAdd(p)
		return
	}
	d.probs = append(d.probs, p)
}

// expandedEmpty notes a string value written with ${…} that expanded to
// empty (Config.ExpandedEmpty), and reports it when its field says it
// needs a value (pipeline:"nonempty" or "required"). It tells whether the
// value may stay.
func (d *decoder) expandedEmpty(n *yaml.Node, path string, f *fieldInfo) bool {
	if d.empties == nil {
		d.empties = map[string]Problem{}
	}
	d.empties[path] = Problem{Line: n.Line, Col: n.Column, Path: path, Msg: n.Value}
	if f == nil || !f.nonempty {
		return true
	}
	vars := varsIn(n.Value)
	first := "NAME"
	if len(vars) > 0 {
		first = vars[0]
	}
	d.envAdd(problemAt(n, path, fmt.Sprintf("%s expanded to empty, and this key needs a value — set %s in the environment to one, or write a default: ${%s:-value}",
		n.Value, strings.Join(vars, " or "), first)))
	return false
}

type whole struct {
	u   uint64 // magnitude
	neg bool
}

func (w whole) int() int64 {
	if w.neg {
		return -int64(w.u-1) - 1
	}
	return int64(w.u)
}

// wholeNumber reads a YAML integer (42, -7, 0x1f, 0o17, 1_000), or a float
// with nothing after the point (3.0).
func wholeNumber(text, tag string) (whole, bool) {
	s := strings.ReplaceAll(text, "_", "")
	var w whole
	if s == "" {
		return w, false
	}
	switch s[0] {
	case '-':
		w.neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	switch tag {
	case "!!int":
		u, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return w, false
		}
		w.u = u
		return w, true
	case "!!float":
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || x != math.Trunc(x) || x >= 1<<64 {
			return w, false
		}
		w.u = uint64(x)
		return w, true
	}
	return w, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// envReference is a variable written as a reference ($NAME, ${NAME}) where
// its name is wanted.
var envReference = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$`) })

// secretShapes are token formats that could pass for a variable name.
var secretShapes = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(gh[pousr]_|github_pat_|glpat-|AKIA[0-9A-Z]{12})`) })

// envName decodes a key ending in _env: the NAME of a variable, never
// expanded. What is not a name is never shown: it may be a pasted secret.
func (d *decoder) envName(n *yaml.Node, v reflect.Value, path string, f *fieldInfo) {
	form := fmt.Sprintf("the NAME of an environment variable (letters, digits and _), such as %s", exampleEnvName(f.name))
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.add(n, path, "want %s, got %s", form, describe(n))
		return
	}
	val := n.Value
	switch {
	case n.ShortTag() == "!!str" && envName().MatchString(val) && !secretShapes().MatchString(val):
		v.SetString(val)
	case envReference().MatchString(val):
		name := strings.Trim(val, "${}")
		d.add(n, path, "want %s: write %s without $ or braces (this key names the variable; it is never expanded)", form, name)
	case looksLikeSecret(val):
		d.add(n, path, "want %s; this looks like a secret value pasted in (not shown here) — never write a secret in pipeline.yaml: keep it in a CI/CD variable and write that variable's name", form)
	default:
		d.add(n, path, "want %s, got something else (not shown, in case it is a secret)", form)
	}
}

func looksLikeSecret(s string) bool {
	return secretShapes().MatchString(s) || len(s) >= 16 && !strings.ContainsAny(s, " \t\n")
}

// exampleEnvName turns a key into a plausible variable name for messages:
// token_env → PIPELINE_TOKEN.
func exampleEnvName(key string) string {
	return "PIPELINE_" + strings.ToUpper(strings.TrimSuffix(key, "_env"))
}

// unmarshaler hands a value to its own UnmarshalYAML, after expanding
// ${VAR} in a copy of the node.
func (d *decoder) unmarshaler(n *yaml.Node, v reflect.Value, path string) {
	if isNull(n) {
		d.add(n, path, "has no value — remove the key to keep the default")
		return
	}
	before := d.count()
	c, changed := d.expandTree(n, path)
	if d.count() > before {
		return
	}
	if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(c); err != nil {
		msg := err.Error()
		if te := (*yaml.TypeError)(nil); errors.As(err, &te) {
			msg = strings.Join(te.Errors, "; ")
		}
		if changed {
			d.envAdd(problemAt(n, path, msg))
			return
		}
		d.add(n, path, "%s", msg)
	}
}

// expandTree copies n with aliases resolved and ${VAR} expanded in its
// scalars; an expanded scalar is typed again from its new text. changed
// tells whether any was.
func (d *decoder) expandTree(n *yaml.Node, path string) (c *yaml.Node, changed bool) {
	n = deref(n)
	if d.steps++; d.steps > maxSteps {
		return n, false
	}
	cp := *n
	cp.Content = nil
	for _, child := range n.Content {
		cc, ch := d.expandTree(child, path)
		cp.Content = append(cp.Content, cc)
		changed = changed || ch
	}
	if n.Kind == yaml.ScalarNode {
		out, ch, probs := expand(n.Value, d.lookup)
		for _, p := range probs {
			d.addAt(n, p, path)
		}
		if ch {
			cp.Value, cp.Tag, cp.Style = out, "", 0
			changed = true
		}
	}
	return &cp, changed
}

// validate asks a struct that is a Validator, and reports its problems at
// the node each names (or where the struct is, when the value is a default).
func (d *decoder) validate(v reflect.Value, n *yaml.Node, path string, key *yaml.Node) {
	val, ok := asValidator(v)
	if !ok || d.noValidate {
		return
	}
	for _, fe := range val.Validate() {
		at := locate(n, fe.Path)
		if at == nil || at == n {
			at = key
		}
		d.add(at, joinRel(path, fe.Path), "%s", fe.Msg)
	}
}

// validateTree runs the Validators of a value that is not in the file (its
// default), reporting at key: where its parent is.
func (d *decoder) validateTree(v reflect.Value, path string, key *yaml.Node) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			d.validateTree(v.Elem(), path, key)
		}
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			d.validateTree(v.FieldByIndex(f.index), joinPath(path, f.name), key)
		}
		d.validate(v, nil, path, key)
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			d.validateTree(v.Index(i), fmtIndex(path, i), key)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			elem := reflect.New(v.Type().Elem()).Elem()
			elem.Set(v.MapIndex(k))
			d.validateTree(elem, joinPath(path, k.String()), key)
		}
	}
}

// locate finds the node a relative path (a.b[1].c) names below n, or the
// deepest node on the way when the rest is not in the file.
func locate(n *yaml.Node, rel string) *yaml.Node {
	cur := deref(n)
	for rel != "" && cur != nil {
		if rel[0] == '[' {
			end := strings.IndexByte(rel, ']')
			if end < 0 {
				return cur
			}
			i, err := strconv.Atoi(rel[1:end])
			if err != nil || cur.Kind != yaml.SequenceNode || i < 0 || i >= len(cur.Content) {
				return cur
			}
			cur, rel = deref(cur.Content[i]), rel[end+1:]
			continue
		}
		rel = strings.TrimPrefix(rel, ".")
		end := strings.IndexAny(rel, ".[")
		if end < 0 {
			end = len(rel)
		}
		seg := rel[:end]
		if cur.Kind != yaml.MappingNode {
			return cur
		}
		next := (*yaml.Node)(nil)
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if k := deref(cur.Content[i]); k != nil && k.Value == seg {
				next = deref(cur.Content[i+1])
				break
			}
		}
		if next == nil {
			return cur
		}
		cur, rel = next, rel[end:]
	}
	return cur
}

func lowerFirst(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || strings.ToUpper(s[:size]) != s[:size] || len(s) > size && strings.ToUpper(s[size:size+1]) == s[size:size+1] && s[size] != ' ' {
		return s // empty, or an acronym such as "API …"
	}
	return strings.ToLower(s[:size]) + s[size:]
}

// describe says what a node is, for "want X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return describeText(n.Value, n.ShortTag(), false)
}

func describeText(text, tag string, fromEnv bool) string {
	s := text
	if utf8.RuneCountInString(s) > 40 {
		s = string([]rune(s)[:40]) + "…"
	}
	var out string
	switch tag {
	case "!!null":
		out = "nothing (null)"
	case "!!bool":
		out = strings.ToLower(s)
	case "!!int", "!!float":
		out = "the number " + s
	case "!!timestamp":
		out = "the date " + s
	case "!!str":
		out = "the text " + strconv.Quote(s)
	default:
		out = "a " + tag + " value"
	}
	if fromEnv {
		out += " (after ${…} expansion)"
	}
	return out
}
