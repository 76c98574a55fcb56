package config

import (
	"reflect"
	"sort"
)

// SecretEnvNames returns the names of every environment variable whose
// value is a secret: the value of each key ending in _env, at any depth and
// in every section, plus ForgeTokenEnvs. The application masks the values
// of these variables in all output.
func (c *Config) SecretEnvNames() []string {
	set := map[string]bool{}
	for _, n := range ForgeTokenEnvs {
		set[n] = true
	}
	collectEnvNames(reflect.ValueOf(c).Elem(), false, set)
	if c.later != nil {
		for _, n := range c.later.envNames {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		if n != "" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// collectEnvNames adds the strings found under an _env key (env) to set.
func collectEnvNames(v reflect.Value, env bool, set map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectEnvNames(v.Elem(), env, set)
		}
	case reflect.String:
		if env {
			set[v.String()] = true
		}
	case reflect.Struct:
		for _, f := range fieldsOf(v.Type()) {
			collectEnvNames(v.FieldByIndex(f.index), f.env, set)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			collectEnvNames(v.Index(i), env, set)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			collectEnvNames(v.MapIndex(k), env, set)
		}
	}
}
