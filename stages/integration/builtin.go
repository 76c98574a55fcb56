package integration

// The built-in provisioning: what the stage does when integration gives
// none of copy, setup, base and provision. The command text lives here
// only (BuiltinAPT), rendered from the build's hand-off; the golden file
// testdata/builtin-apt.golden shows it whole.

import (
	"fmt"
	"strings"
)

// Where the built-in provisioning puts the repositories on a target.
const (
	BuiltinNewRepo  = "/srv/pipeline/apt/new"  // the build under test
	BuiltinProdRepo = "/srv/pipeline/apt/prod" // the production build (UPGRADE)
)

// BuiltinAPTInput is what the built-in APT provisioning is rendered from.
type BuiltinAPTInput struct {
	// Metapackage is the meta-package installed at $PIPELINE_VERSION.
	Metapackage string
	// Suite and Component are those of the build's APT repository
	// (dists/<suite>/<component>).
	Suite, Component string
	// NewRepo is the local APT repository of the build under test;
	// ProdRepo that of the production build, empty when no target runs
	// the UPGRADE scenario.
	NewRepo, ProdRepo string
}

// Provisioning is a rendered copy/setup/base/provision.
type Provisioning struct {
	Copy                   []CopyItem
	Setup, Base, Provision string
}

// BuiltinAPT renders the Debian way of provisioning: both repositories
// copied onto the target; setup offers only the production repository
// (apt picks the newest candidate of a dependency, so offering both at
// once would pull new parts into the old install) and updates that list
// only; base installs the production meta-package; provision adds the new
// repository, updates its list only and installs the version under test.
func BuiltinAPT(in BuiltinAPTInput) Provisioning {
	var p Provisioning
	p.Copy = append(p.Copy, CopyItem{Src: in.NewRepo, Dest: BuiltinNewRepo})
	install := fmt.Sprintf("apt-get install -y -q --no-install-recommends %s=$PIPELINE_VERSION", in.Metapackage)
	if in.ProdRepo != "" {
		p.Copy = append(p.Copy, CopyItem{Src: in.ProdRepo, Dest: BuiltinProdRepo})
		p.Setup = addSource(BuiltinProdRepo, "pipeline-prod.list", in.Suite, in.Component)
		p.Base = install + "\n"
	}
	p.Provision = addSource(BuiltinNewRepo, "pipeline-new.list", in.Suite, in.Component) + install + "\n"
	return p
}

// addSource writes one sources.list.d file and updates that list alone.
func addSource(dir, list, suite, component string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "echo 'deb [trusted=yes] file:%s %s %s' > /etc/apt/sources.list.d/%s\n", dir, suite, component, list)
	fmt.Fprintf(&b, "apt-get update -q -o Dir::Etc::sourcelist=sources.list.d/%s -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0\n", list)
	return b.String()
}

// Text is the provisioning as the log and the golden file show it.
func (p Provisioning) Text() string {
	var b strings.Builder
	for _, c := range p.Copy {
		fmt.Fprintf(&b, "copy: %s -> %s\n", c.Src, c.Dest)
	}
	for _, s := range []struct{ name, text string }{{"setup", p.Setup}, {"base", p.Base}, {"provision", p.Provision}} {
		if s.text == "" {
			fmt.Fprintf(&b, "%s: (none)\n", s.name)
			continue
		}
		fmt.Fprintf(&b, "%s:\n", s.name)
		for _, l := range strings.Split(strings.TrimRight(s.text, "\n"), "\n") {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return b.String()
}
