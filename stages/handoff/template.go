package handoff

// Template is what the template stage hands on: the key of its inputs and
// where the image for that key is.
type Template struct {
	Box      string `json:"box"` // template.name
	Key      string `json:"key"`
	Version  string `json:"version,omitempty"`
	Commit   string `json:"commit,omitempty"`
	Image    string `json:"image_url,omitempty"` // the qcow2 image
	Manifest string `json:"manifest_url,omitempty"`
	Catalog  string `json:"catalog_url,omitempty"` // Vagrant box catalog
}

// The template's dotenv variables (docs/template.md lists them).
const (
	EnvTemplateKey         = "PIPELINE_TEMPLATE_KEY"
	EnvTemplateVersion     = "PIPELINE_TEMPLATE_VERSION"
	EnvTemplateURL         = "PIPELINE_TEMPLATE_URL"
	EnvTemplateManifestURL = "PIPELINE_TEMPLATE_MANIFEST_URL"
	EnvTemplateCatalogURL  = "PIPELINE_TEMPLATE_CATALOG_URL"
)

// Name is "template".
func (t *Template) Name() string { return "template" }

// Keys: commits/<sha>/template.json (the image itself is found by key in
// the template's own folder).
func (t *Template) Keys() []string {
	if t.Commit == "" {
		return nil
	}
	return []string{CommitKey(t.Commit, t.Name())}
}

// Dotenv is the variables later CI jobs get from the template stage.
func (t *Template) Dotenv() map[string]string {
	d := map[string]string{EnvTemplateKey: t.Key}
	if t.Image != "" {
		d[EnvTemplateURL] = t.Image
	}
	if t.Manifest != "" {
		d[EnvTemplateManifestURL] = t.Manifest
	}
	if t.Catalog != "" {
		d[EnvTemplateCatalogURL] = t.Catalog
		d[EnvTemplateVersion] = t.Version
	}
	return d
}
