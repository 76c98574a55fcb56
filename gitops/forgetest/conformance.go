package forgetest

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The API descriptions the fake's answers are checked against (see
// testdata/openapi/README.md for their sources and versions).
//
//go:embed testdata/openapi/github.json testdata/openapi/gitlab.json testdata/openapi/gitlab-official.json
var descriptions embed.FS

// Description is an OpenAPI 3 (or Swagger 2.0) description of a forge's
// REST API, as far as the conformance check reads it: operations, their
// responses by status code, and JSON schemas (type, nullable, required,
// properties, items, enum, allOf/anyOf/oneOf, $ref, format date-time).
type Description struct {
	Name   string // "github", "gitlab" or "gitlab-official"
	prefix string // path prefix on the fake: /api/v3 or /api/v4
	// partial: the description covers only some of the operations the
	// client calls; answers to operations it lacks are not checked (the
	// operations it has must still all be reached).
	partial bool
	// allowed are status codes an operation answers that the description
	// omits, each with the reason ("POST /x 201" → why).
	allowed map[string]string
	doc     struct {
		Swagger string                               `json:"swagger"`
		Info    map[string]any                       `json:"info"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
		Comps   struct {
			Schemas   map[string]any `json:"schemas"`
			Responses map[string]any `json:"responses"`
		} `json:"components"`
		Definitions map[string]any `json:"definitions"` // Swagger 2.0
	}
}

// GitHubDescription is GitHub's REST API description (the operations the
// GitHub client calls).
func GitHubDescription() (*Description, error) { return load("github", "/api/v3") }

// GitLabDescription is the GitLab REST API description (the operations
// the GitLab client calls).
func GitLabDescription() (*Description, error) { return load("gitlab", "/api/v4") }

// GitLabOfficialDescription is the excerpt of GitLab's own OpenAPI v2
// description (doc/api/openapi/openapi_v2.yaml, Swagger 2.0): the
// operations the GitLab client calls that the file describes. It is
// partial: answers to the operations it lacks are not checked against it.
// Its entities mark no field required, so it checks status codes and
// types only; gitlab.json checks the required fields.
func GitLabOfficialDescription() (*Description, error) {
	d, err := load("gitlab-official", "/api/v4")
	if err != nil {
		return nil, err
	}
	d.partial = true
	return d, nil
}

func load(name, prefix string) (*Description, error) {
	b, err := descriptions.ReadFile("testdata/openapi/" + name + ".json")
	if err != nil {
		return nil, err
	}
	d := &Description{Name: name, prefix: prefix, allowed: map[string]string{}}
	if err := json.Unmarshal(b, &d.doc); err != nil {
		return nil, fmt.Errorf("forgetest: %s description: %w", name, err)
	}
	// Swagger 2.0 paths carry the API prefix ("/api/v4/projects/..."),
	// OpenAPI 3 ones do not: make them alike.
	for p, item := range d.doc.Paths {
		if short, ok := strings.CutPrefix(p, prefix+"/"); ok {
			delete(d.doc.Paths, p)
			d.doc.Paths["/"+short] = item
		}
	}
	return d, nil
}

// Allow accepts status code code for operation op ("METHOD /path") though
// the description omits it; why says where the real forge is seen to
// answer it. For descriptions that are known to be wrong on a point.
func (d *Description) Allow(op string, code int, why string) {
	d.allowed[fmt.Sprintf("%s %d", op, code)] = why
}

// Version is the description's info.version and where it came from.
func (d *Description) Version() string {
	return fmt.Sprintf("%v (%v)", d.doc.Info["version"], d.doc.Info["x-source"])
}

// Operations lists the described operations as "METHOD /path/{param}".
func (d *Description) Operations() []string {
	var out []string
	for p, item := range d.doc.Paths {
		for m := range item {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

// Operation finds the described operation a request is for ("" when it
// is not described). The path is matched segment by segment; a {name}
// matches one segment, or the rest of the path when it is the last.
func (d *Description) Operation(method, path string) string {
	path, ok := strings.CutPrefix(path, d.prefix)
	if !ok {
		return ""
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	best, bestLiterals := "", -1
	for p, item := range d.doc.Paths {
		if _, ok := item[strings.ToLower(method)]; !ok {
			continue
		}
		if lit, ok := matchPath(strings.Split(strings.Trim(p, "/"), "/"), segs); ok && lit > bestLiterals {
			best, bestLiterals = strings.ToUpper(method)+" "+p, lit
		}
	}
	return best
}

// matchPath matches a template's segments to a path's and counts the
// literal segments (the most literal template wins: /issues/comments/{id}
// over /issues/{n}/comments).
func matchPath(tmpl, segs []string) (int, bool) {
	lit := 0
	for i, t := range tmpl {
		if i >= len(segs) {
			return 0, false
		}
		if strings.HasPrefix(t, "{") {
			if i == len(tmpl)-1 && strings.Contains(t, "...") {
				return lit, true
			}
			continue
		}
		if t != segs[i] {
			return 0, false
		}
		lit++
	}
	return lit, len(tmpl) == len(segs)
}

// Check validates one answer of the fake against the description: the
// operation is described, its status code is one the operation may
// answer, and a JSON body matches the response's schema. It returns what
// differs, one line each ("" paths are the body's root: "$").
func (d *Description) Check(r Request) []string {
	op := d.Operation(r.Method, r.Path)
	if op == "" {
		return []string{fmt.Sprintf("%s %s: no such operation in the %s description", r.Method, r.Path, d.Name)}
	}
	method, tmpl, _ := strings.Cut(op, " ")
	o := d.doc.Paths[tmpl][strings.ToLower(method)]
	responses, _ := o["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(r.Status)]
	if !ok {
		resp, ok = responses["default"]
	}
	if _, allowed := d.allowed[fmt.Sprintf("%s %d", op, r.Status)]; !ok && allowed {
		return nil // a known omission of the description (see Allow)
	}
	if !ok {
		var codes []string
		for c := range responses {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		return []string{fmt.Sprintf("%s: answered %d, described: %s", op, r.Status, strings.Join(codes, ", "))}
	}
	resp = d.resolve(resp)
	schema := jsonSchema(resp)
	if schema == nil {
		return nil // no body described (204, or prose only)
	}
	var body any
	if err := json.Unmarshal(r.Response, &body); err != nil {
		return []string{fmt.Sprintf("%s %d: body is not JSON: %v", op, r.Status, err)}
	}
	var errs []string
	d.validate(schema, body, "$", func(path, msg string) {
		errs = append(errs, fmt.Sprintf("%s %d: %s: %s", op, r.Status, path, msg))
	})
	return errs
}

func jsonSchema(resp any) any {
	m, _ := resp.(map[string]any)
	if s, ok := m["schema"]; ok {
		return s // Swagger 2.0
	}
	content, _ := m["content"].(map[string]any)
	for _, ct := range []string{"application/json", "application/vnd.github.v3+json"} {
		if c, ok := content[ct].(map[string]any); ok {
			return c["schema"]
		}
	}
	return nil
}

// resolve follows a $ref into the components.
func (d *Description) resolve(v any) any {
	for i := 0; i < 32; i++ {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		switch {
		case strings.HasPrefix(ref, "#/components/schemas/"):
			v = d.doc.Comps.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
		case strings.HasPrefix(ref, "#/components/responses/"):
			v = d.doc.Comps.Responses[strings.TrimPrefix(ref, "#/components/responses/")]
		case strings.HasPrefix(ref, "#/definitions/"):
			v = d.doc.Definitions[strings.TrimPrefix(ref, "#/definitions/")]
		default:
			return nil
		}
	}
	return v
}

// validate checks v against schema s, calling bad for each difference.
func (d *Description) validate(s, v any, path string, bad func(path, msg string)) {
	if raw, _ := s.(map[string]any); v == nil && raw != nil {
		if n, _ := raw["nullable"].(bool); n {
			return // {"$ref": ..., "nullable": true}
		}
	}
	sch, ok := d.resolve(s).(map[string]any)
	if !ok || len(sch) == 0 {
		return // {} or unknown: anything goes
	}
	if v == nil {
		if n, _ := sch["nullable"].(bool); n || typeAllows(sch, "null") {
			return
		}
		if d.doc.Swagger == "2.0" {
			return // Swagger 2.0 cannot say null: any field may be null
		}
		// allOf/anyOf/oneOf may allow null in a member.
		for _, k := range []string{"anyOf", "oneOf"} {
			for _, m := range list(sch[k]) {
				if mm, _ := d.resolve(m).(map[string]any); mm != nil {
					if n, _ := mm["nullable"].(bool); n {
						return
					}
				}
			}
		}
		if _, hasType := sch["type"]; hasType || sch["properties"] != nil || sch["allOf"] != nil || sch["anyOf"] != nil || sch["oneOf"] != nil {
			bad(path, "null, but the description does not allow null")
		}
		return
	}
	for _, m := range list(sch["allOf"]) {
		d.validate(m, v, path, bad)
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		alts := list(sch[k])
		if len(alts) == 0 {
			continue
		}
		matched := false
		var first []string
		for i, m := range alts {
			var errs []string
			d.validate(m, v, path, func(p, msg string) { errs = append(errs, p+": "+msg) })
			if len(errs) == 0 {
				matched = true
				break
			}
			if i == 0 {
				first = errs
			}
		}
		if !matched {
			bad(path, fmt.Sprintf("matches none of %s (first: %s)", k, strings.Join(first, "; ")))
		}
	}
	if arr, ok := v.([]any); ok && d.doc.Swagger == "2.0" && isRef(s) && typeAllows(sch, "object") {
		// grape-swagger writes an entity exposed as a list (is_array) as
		// a bare $ref to the entity: check each element against it.
		for i, e := range arr {
			d.validate(s, e, fmt.Sprintf("%s[%d]", path, i), bad)
		}
		return
	}
	if t, ok := sch["type"]; ok && !typeMatches(t, v) {
		bad(path, fmt.Sprintf("%s, described as %v", jsonType(v), t))
		return
	}
	if enum := list(sch["enum"]); len(enum) > 0 && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		bad(path, fmt.Sprintf("%v is not one of %v", v, enum))
	}
	if f, _ := sch["format"].(string); f == "date-time" {
		if str, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339, str); err != nil {
				bad(path, fmt.Sprintf("%q is not a date-time", str))
			}
		}
	}
	switch x := v.(type) {
	case map[string]any:
		for _, req := range list(sch["required"]) {
			name, _ := req.(string)
			if _, ok := x[name]; !ok {
				bad(path+"."+name, "required, missing")
			}
		}
		props, _ := sch["properties"].(map[string]any)
		for name, ps := range props {
			if fv, ok := x[name]; ok {
				d.validate(ps, fv, path+"."+name, bad)
			}
		}
	case []any:
		if items, ok := sch["items"]; ok {
			for i, e := range x {
				d.validate(items, e, fmt.Sprintf("%s[%d]", path, i), bad)
			}
		}
	}
}

func list(v any) []any { l, _ := v.([]any); return l }

func isRef(s any) bool {
	m, _ := s.(map[string]any)
	_, ok := m["$ref"].(string)
	return ok
}

func typeAllows(sch map[string]any, t string) bool {
	switch x := sch["type"].(type) {
	case string:
		return x == t
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return e == t })
	}
	return false
}

func typeMatches(t, v any) bool {
	switch x := t.(type) {
	case string:
		return typeIs(x, v)
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { s, _ := e.(string); return typeIs(s, v) })
	}
	return true
}

func typeIs(t string, v any) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "null":
		return v == nil
	}
	return true
}

func jsonType(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	}
	return "null"
}

// Conformance checks every answer the server gave (but injected faults)
// against the forge's description, and returns the differences and the
// described operations that no request reached.
func (s *Server) Conformance(d *Description) (diffs []string, unreached []string) {
	reached := map[string]bool{}
	for _, r := range s.Requests() {
		if r.Fault != "" || r.Status == 0 || !strings.HasPrefix(r.Path, d.prefix+"/") {
			continue
		}
		op := d.Operation(r.Method, r.Path)
		if op == "" && d.partial {
			continue // not in this description; another one checks it
		}
		reached[op] = true
		diffs = append(diffs, d.Check(r)...)
	}
	for _, op := range d.Operations() {
		if !reached[op] {
			unreached = append(unreached, op)
		}
	}
	return diffs, unreached
}
