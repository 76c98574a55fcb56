//go:build ignore

// subset writes the part of an OpenAPI 3 description that the fake
// forge's conformance test needs: the operations named on the command line
// ("METHOD /path") with their responses, and every component they refer
// to, transitively. Prose (description, summary, examples) is dropped to
// keep the vendored file small; the shapes (type, required, properties,
// items, enum, nullable, allOf/anyOf/oneOf, $ref) are kept as published.
//
//	go run subset.go -in api.github.com.json -out github.json -source "..." "GET /repos/{owner}/{repo}/pulls" ...
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	in := flag.String("in", "", "the full description (JSON)")
	out := flag.String("out", "", "where to write the subset")
	source := flag.String("source", "", "where the full description came from (kept in info.x-source)")
	flag.Parse()
	var doc map[string]any
	b, err := os.ReadFile(*in)
	check(err)
	check(json.Unmarshal(b, &doc))
	paths := doc["paths"].(map[string]any)
	keptPaths := map[string]any{}
	for _, op := range flag.Args() {
		method, path, ok := strings.Cut(op, " ")
		if !ok {
			fail("operation %q: want \"METHOD /path\"", op)
		}
		item, ok := paths[path].(map[string]any)
		if !ok {
			fail("no path %s in %s", path, *in)
		}
		o, ok := item[strings.ToLower(method)].(map[string]any)
		if !ok {
			fail("no %s %s in %s", method, path, *in)
		}
		kp, _ := keptPaths[path].(map[string]any)
		if kp == nil {
			kp = map[string]any{}
			keptPaths[path] = kp
		}
		kp[strings.ToLower(method)] = map[string]any{"operationId": o["operationId"], "responses": strip(o["responses"])}
	}
	components := doc["components"].(map[string]any)
	kept := map[string]map[string]any{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				if len(parts) != 2 {
					fail("unexpected $ref %s", ref)
				}
				kind, name := parts[0], parts[1]
				if kept[kind] == nil {
					kept[kind] = map[string]any{}
				}
				if _, done := kept[kind][name]; !done {
					c := strip(components[kind].(map[string]any)[name])
					kept[kind][name] = c
					walk(c)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(keptPaths)
	comps := map[string]any{}
	for k, v := range kept {
		comps[k] = v
	}
	info := doc["info"].(map[string]any)
	res := map[string]any{
		"openapi":    doc["openapi"],
		"info":       map[string]any{"title": info["title"], "version": info["version"], "x-source": *source},
		"paths":      keptPaths,
		"components": comps,
	}
	var ops []string
	for p := range keptPaths {
		ops = append(ops, p)
	}
	sort.Strings(ops)
	outb, err := json.MarshalIndent(res, "", " ")
	check(err)
	check(os.WriteFile(*out, append(outb, '\n'), 0o644))
	fmt.Printf("%s: %d paths, %d bytes\n", *out, len(ops), len(outb))
}

// strip drops prose and examples, recursively, but not inside
// "properties" (whose keys are field names, "description" among them).
func strip(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			switch k {
			case "description", "summary", "example", "examples", "externalDocs", "title":
				continue
			case "properties":
				props := map[string]any{}
				for name, p := range e.(map[string]any) {
					props[name] = strip(p)
				}
				out[k] = props
				continue
			}
			if strings.HasPrefix(k, "x-") {
				continue
			}
			out[k] = strip(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = strip(e)
		}
		return out
	}
	return v
}

func check(err error) {
	if err != nil {
		fail("%v", err)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "subset: "+format+"\n", args...)
	os.Exit(1)
}
