package config

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
)

// SchemaFile is where the schema is committed, relative to the module root;
// `go test ./internal/config -update` rewrites it.
const SchemaFile = "templates/pipeline.schema.json"

// schemaer is implemented by types that decode themselves (yaml.Unmarshaler)
// to describe their form in the schema; Duration does.
type schemaer interface{ JSONSchema() map[string]any }

// envRefPattern is a string holding a ${VAR} reference: the schema lets one
// stand in for a number, a boolean or an enum value, since it is expanded
// before the value is typed.
const envRefPattern = `\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`

// Schema returns the JSON Schema (draft 2020-12) of pipeline.yaml, derived
// from the Go types: the same keys, types, enums and required keys the
// decoder enforces, with descriptions from doc tags and defaults from
// Default().
func Schema() []byte {
	return schemaJSON(reflect.TypeOf(Config{}), reflect.ValueOf(Default()).Elem(),
		"pipeline.yaml",
		"Configuration of the pipeline stage runner (build, template, integration, promote, release). Reference: docs/config.md.")
}

func schemaJSON(t reflect.Type, defaults reflect.Value, title, desc string) []byte {
	root := schemaObject(t, defaults, true)
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["title"] = title
	root["description"] = desc
	root["$defs"] = map[string]any{"envref": map[string]any{
		"type":        "string",
		"pattern":     envRefPattern,
		"description": "A ${VAR} or ${VAR:-default} reference, expanded from the environment when the file is read.",
	}}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		panic("config: schema does not encode: " + err.Error()) // only maps, strings and numbers: cannot happen
	}
	return b.Bytes()
}

// schemaObject describes a struct: its keys and nothing else.
func schemaObject(t reflect.Type, def reflect.Value, top bool) map[string]any {
	props := map[string]any{}
	required := []string{}
	for _, f := range fieldsOf(t) {
		var fdef reflect.Value
		if def.IsValid() {
			fdef = def.FieldByIndex(f.index)
		}
		s := schemaType(f.typ, &f, fdef)
		if f.doc != "" {
			s["description"] = f.doc
		}
		if d, ok := jsonDefault(fdef); ok {
			s["default"] = d
		}
		props[f.name] = s
		if f.required {
			required = append(required, f.name)
		}
	}
	s := map[string]any{
		"type":                 []string{"object", "null"},
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		s["required"] = required
	}
	if top {
		s["type"] = "object"
		s["patternProperties"] = map[string]any{"^x-": map[string]any{"description": "Ignored: a place for YAML anchors."}}
	}
	return s
}

// schemaType describes one value of type t; f carries the tags of the
// field it belongs to (enum and _env apply to the items of a list too).
func schemaType(t reflect.Type, f *fieldInfo, def reflect.Value) map[string]any {
	if t.Kind() == reflect.Pointer {
		return map[string]any{"anyOf": []any{schemaType(t.Elem(), f, reflect.Value{}), map[string]any{"type": "null"}}}
	}
	if f != nil && f.env && t.Kind() == reflect.String {
		return map[string]any{
			"type":    "string",
			"pattern": envName().String(),
			"not":     map[string]any{"pattern": secretShapes().String()},
		}
	}
	if s, ok := reflect.New(t).Interface().(schemaer); ok {
		return withEnvRef(s.JSONSchema())
	}
	if isUnmarshaler(t) {
		return map[string]any{} // decodes itself in a form we cannot describe
	}
	if t == timeDurationType {
		return withEnvRef(Duration(0).JSONSchema())
	}
	var enum []string
	if f != nil {
		enum = f.enum
	}
	switch t.Kind() {
	case reflect.String:
		s := map[string]any{"type": "string"}
		if len(enum) > 0 {
			s["enum"] = enum
			return withEnvRef(s)
		}
		return s
	case reflect.Bool:
		return withEnvRef(map[string]any{"type": "boolean"})
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s := map[string]any{"type": "integer"}
		bits := t.Bits()
		if t.Kind() >= reflect.Uint {
			s["minimum"] = 0
			if bits < 64 {
				s["maximum"] = uint64(1)<<bits - 1
			}
		} else if bits < 64 {
			s["minimum"] = -(int64(1) << (bits - 1))
			s["maximum"] = int64(1)<<(bits-1) - 1
		}
		if len(enum) > 0 {
			var nums []any
			for _, e := range enum {
				if n, err := strconv.ParseInt(e, 10, 64); err == nil {
					nums = append(nums, n)
				}
			}
			s["enum"] = nums
		}
		return withEnvRef(s)
	case reflect.Float32, reflect.Float64:
		return withEnvRef(map[string]any{"type": "number"})
	case reflect.Struct:
		return schemaObject(t, def, false)
	case reflect.Slice:
		return map[string]any{"type": []string{"array", "null"}, "items": schemaType(t.Elem(), f, reflect.Value{})}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": schemaType(t.Elem(), f, reflect.Value{})}
	}
	return map[string]any{}
}

func withEnvRef(s map[string]any) map[string]any {
	return map[string]any{"anyOf": []any{s, map[string]any{"$ref": "#/$defs/envref"}}}
}

// jsonDefault is a non-zero default scalar or list, as JSON shows it.
func jsonDefault(v reflect.Value) (any, bool) {
	if !v.IsValid() || v.IsZero() {
		return nil, false
	}
	if v.Type() == reflect.TypeOf(Duration(0)) || v.Type() == timeDurationType {
		return Duration(v.Int()).String(), true
	}
	switch v.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Interface(), true
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, true
		}
	case reflect.Slice:
		if k := v.Type().Elem().Kind(); k == reflect.String || k == reflect.Int || k == reflect.Bool {
			return v.Interface(), true
		}
	}
	return nil, false
}
