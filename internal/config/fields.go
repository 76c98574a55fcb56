package config

import (
	"reflect"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// fieldInfo is one key of a struct as the decoder and the schema see it.
type fieldInfo struct {
	name     string // key in the file
	index    []int  // for reflect.Value.FieldByIndex (inline structs add a level)
	typ      reflect.Type
	required bool     // pipeline:"required"
	nonempty bool     // pipeline:"nonempty", or required: a ${…} value may not expand to empty
	enum     []string // enum:"a,b,c"
	doc      string   // doc:"…"
	env      bool     // key ends in _env: holds a variable NAME
}

var fieldCache sync.Map // reflect.Type → []fieldInfo

// fieldsOf lists the keys of struct type t in declaration order, with
// inline and embedded structs flattened into it.
func fieldsOf(t reflect.Type) []fieldInfo {
	if c, ok := fieldCache.Load(t); ok {
		return c.([]fieldInfo)
	}
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		inline := hasOpt(opts, "inline") || (sf.Anonymous && name == "")
		if inline && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		opt := sf.Tag.Get("pipeline")
		f := fieldInfo{
			name:     name,
			index:    []int{i},
			typ:      sf.Type,
			required: hasOpt(opt, "required"),
			nonempty: hasOpt(opt, "required") || hasOpt(opt, "nonempty"),
			doc:      sf.Tag.Get("doc"),
			env:      strings.HasSuffix(name, "_env"),
		}
		if e := sf.Tag.Get("enum"); e != "" {
			for _, s := range strings.Split(e, ",") {
				f.enum = append(f.enum, strings.TrimSpace(s))
			}
		}
		out = append(out, f)
	}
	fieldCache.Store(t, out)
	return out
}

func hasOpt(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if strings.TrimSpace(o) == want {
			return true
		}
	}
	return false
}

func fieldNames(fs []fieldInfo) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

var (
	unmarshalerType  = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	validatorType    = reflect.TypeOf((*Validator)(nil)).Elem()
	timeDurationType = reflect.TypeOf(time.Duration(0))
)

// isUnmarshaler tells whether values of t decode themselves.
func isUnmarshaler(t reflect.Type) bool {
	return t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(unmarshalerType)
}

// asValidator returns v's Validator, whether Validate has a value or a
// pointer receiver.
func asValidator(v reflect.Value) (Validator, bool) {
	if v.CanAddr() && v.Addr().Type().Implements(validatorType) {
		return v.Addr().Interface().(Validator), true
	}
	if v.Type().Implements(validatorType) && v.CanInterface() {
		return v.Interface().(Validator), true
	}
	return nil, false
}

// want says in words what form a value of type t takes.
func want(t reflect.Type) string {
	if t == timeDurationType {
		return "a duration such as 90s, 30m or 1h30m"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct:
		return "a mapping (key: value lines) with keys such as " + list(fieldNames(fieldsOf(t)), 4)
	case reflect.Slice, reflect.Array:
		return `a list ("- item" lines, or [a, b])`
	case reflect.Map:
		return "a mapping of name: value lines"
	case reflect.Pointer:
		return want(t.Elem())
	}
	return "a value"
}
