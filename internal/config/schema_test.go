package config

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/pipeline-ci/pipeline/templates"
)

// schemaPath is the committed schema, from this package's folder.
var schemaPath = filepath.Join("..", "..", filepath.FromSlash(SchemaFile))

// The committed schema is what the Go types say today. Stage sections
// change often: regenerate it with go test ./internal/config -update.
func TestSchemaUpToDate(t *testing.T) {
	got := Schema()
	if *update {
		if err := os.WriteFile(schemaPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: the Go types in internal/config changed; run: go test ./internal/config -update", SchemaFile)
	}
}

func compileSchema(t *testing.T, schema []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///pipeline.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("file:///pipeline.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile as JSON Schema 2020-12: %v", err)
	}
	return sch
}

// schemaVerdict is what an editor checking the file against the schema
// would say: the YAML read as one JSON document, then validated. A file
// that is not one YAML document is refused before the schema is asked.
func schemaVerdict(sch *jsonschema.Schema, data []byte) (ok bool, why string) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return false, "not a YAML document: " + err.Error()
	}
	var extra any
	if err := dec.Decode(&extra); err != io.EOF {
		return false, "more than one YAML document"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return false, "not JSON-shaped: " + err.Error()
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return false, err.Error()
	}
	if err := sch.Validate(inst); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// beyondSchema marks an invalid file whose problem no JSON Schema can see
// (which variables are set, a Validator's rule); its first line says why.
const beyondSchema = "# beyond-schema:"

// The decoder accepts a file exactly when a real JSON Schema validator
// accepts it against the generated schema: the valid and invalid testdata
// (less the beyond-schema ones), the example and the init template.
func TestSchemaAgreesWithDecoder(t *testing.T) {
	cases := []struct {
		schema []byte
		decode func([]byte) error
		dirs   []string
		extra  []string
	}{
		{
			schema: Schema(),
			decode: func(b []byte) error { _, err := Parse("pipeline.yaml", b, testEnv); return err },
			dirs:   []string{"testdata/valid", "testdata/invalid"},
			extra:  []string{"../../examples/appliance/pipeline.yaml"},
		},
		{
			schema: schemaJSON(reflect.TypeOf(richConfig{}), reflect.ValueOf(defaultRich()).Elem(), "rich", "test"),
			decode: func(b []byte) error { return decodeFile("pipeline.yaml", b, testEnv, defaultRich()) },
			dirs:   []string{"testdata/rich/valid", "testdata/rich/invalid"},
		},
	}
	// What `pipeline init` writes, for each forge choice.
	initFiles := renderInitTemplate(t)
	for _, c := range cases {
		sch := compileSchema(t, c.schema)
		if c.extra != nil {
			for name, data := range initFiles {
				ok, why := schemaVerdict(sch, data)
				if err := c.decode(data); err != nil || !ok {
					t.Errorf("%s: want both to accept it\n  decoder: %v\n  schema: ok=%v %s", name, err, ok, why)
				}
			}
		}
		files := c.extra
		for _, d := range c.dirs {
			files = append(files, yamlFiles(t, d)...)
		}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if os.IsNotExist(err) && !strings.Contains(path, "testdata") {
				t.Logf("%s: not there yet", path)
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			decErr := c.decode(data)
			ok, why := schemaVerdict(sch, data)
			if bytes.HasPrefix(data, []byte(beyondSchema)) {
				if decErr == nil || !ok {
					t.Errorf("%s is marked beyond-schema: want the decoder to refuse it (got %v) and the schema to accept it (got %q)", path, decErr, why)
				}
				continue
			}
			if !strings.Contains(path, "testdata") && (decErr != nil || !ok) {
				t.Errorf("%s: want the decoder and the schema to accept it\n  decoder: %v\n  schema: ok=%v %s", path, decErr, ok, why)
				continue
			}
			if (decErr == nil) != ok {
				t.Errorf("%s: decoder and schema disagree\n  decoder: %v\n  schema: ok=%v %s", path, decErr, ok, why)
			}
		}
	}
}

// renderInitTemplate renders templates/init/pipeline.yaml.tmpl (when it
// exists) as `pipeline init` does, once per forge choice.
func renderInitTemplate(t *testing.T) map[string][]byte {
	tmpl, err := templates.Parse("init/pipeline.yaml.tmpl", nil)
	if err != nil {
		t.Logf("no init template to check: %v", err)
		return nil
	}
	out := map[string][]byte{}
	for _, forge := range []string{"", "gitlab", "github", "none"} {
		s, err := templates.Render(tmpl, map[string]any{"Project": "acme", "Forge": forge})
		if err != nil {
			t.Fatalf("render init/pipeline.yaml.tmpl: %v", err)
		}
		out["init/pipeline.yaml.tmpl (forge "+forge+")"] = []byte(s)
	}
	return out
}

// Spot checks of what editors rely on: additionalProperties false,
// required, enums, descriptions, defaults, _env names.
func TestSchemaShape(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(Schema(), &s); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var cur any = s
		for _, p := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				t.Fatalf("%v: not an object at %q", path, p)
			}
			cur = m[p]
		}
		return cur
	}
	if get("$schema") != "https://json-schema.org/draft/2020-12/schema" || get("additionalProperties") != false {
		t.Error("root: want draft 2020-12 and additionalProperties false")
	}
	if get("properties", "forge", "additionalProperties") != false {
		t.Error("forge: want additionalProperties false")
	}
	if r := get("properties", "project", "required"); !reflect.DeepEqual(r, []any{"name"}) {
		t.Errorf("project.required = %v", r)
	}
	if d := get("properties", "project", "properties", "name", "description"); d == nil || d == "" {
		t.Error("project.name has no description")
	}
	if d := get("properties", "artifacts", "properties", "url", "default"); d != "file://.pipeline/artifacts" {
		t.Errorf("artifacts.url default = %v", d)
	}
	enum := get("properties", "forge", "properties", "type", "anyOf").([]any)[0].(map[string]any)["enum"]
	if !reflect.DeepEqual(enum, []any{"gitlab", "github", "none"}) {
		t.Errorf("forge.type enum = %v", enum)
	}
	if p := get("properties", "forge", "properties", "token_env", "pattern"); p != envName().String() {
		t.Errorf("token_env pattern = %v", p)
	}
}

// FuzzSchemaAgreement looks for files on which the decoder and the schema
// disagree (beyond what no schema can see: unset variables, Validators).
//
//	go test ./internal/config -run '^$' -fuzz FuzzSchemaAgreement -fuzztime 2m
func FuzzSchemaAgreement(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte(beyondSchema)) {
				f.Add(data)
			}
		}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema()))
	if err != nil {
		f.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("file:///pipeline.schema.json", doc); err != nil {
		f.Fatal(err)
	}
	sch := c.MustCompile("file:///pipeline.schema.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		// The property holds where the schema can judge: it sees values
		// only, so an unset ${VAR}, one set but empty, a YAML tag or the
		// alias budget are the
		// decoder's alone (TestSchemaAgreesWithDecoder checks the decoder
		// refuses them). Such inputs are outside the property: the fuzzer
		// moves on (FuzzLoad still runs them through the decoder).
		decErr := decodeWith("pipeline.yaml", data, testEnv, Default(), false)
		if decErr != nil && outsideSchema(decErr) {
			return
		}
		ok, why := schemaVerdict(sch, data)
		if (decErr == nil) != ok {
			t.Fatalf("decoder and schema disagree on %q\n  decoder: %v\n  schema: ok=%v %s", data, decErr, ok, why)
		}
	})
}

// outsideSchema reports whether a decoder error is one no JSON Schema can
// see: an unset variable, a value that expanded to empty, a YAML tag, the
// alias budget.
func outsideSchema(err error) bool {
	msg := err.Error()
	for _, s := range []string{"is not set", "unset", "expanded to empty", "counting each use of an alias", "the YAML tag"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
