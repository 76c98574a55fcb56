package integration

import (
	"strings"
	"testing"
)

// The built-in APT provisioning, as rendered: both scenarios' commands
// (with the production repository) and FRESH only (without).
func TestBuiltinAPTGolden(t *testing.T) {
	both := BuiltinAPT(BuiltinAPTInput{Metapackage: "appliance", Suite: "stable", Component: "main",
		NewRepo: "/repo/.pipeline/build/apt", ProdRepo: "/repo/.pipeline/prod/apt"})
	fresh := BuiltinAPT(BuiltinAPTInput{Metapackage: "appliance", Suite: "stable", Component: "main",
		NewRepo: "/repo/.pipeline/build/apt"})
	golden(t, "builtin-apt.golden", "# fresh and upgrade\n"+both.Text()+"\n# fresh only\n"+fresh.Text())

	// What the golden file cannot say by itself: the setup offers only
	// the production repository and updates only its list, so the base
	// installs the old version; provision updates only the new list.
	if strings.Contains(both.Setup, BuiltinNewRepo) || !strings.Contains(both.Setup, "sourcelist=sources.list.d/pipeline-prod.list") {
		t.Errorf("setup must offer production only:\n%s", both.Setup)
	}
	if strings.Contains(both.Provision, BuiltinProdRepo) || !strings.Contains(both.Provision, "appliance=$PIPELINE_VERSION") {
		t.Errorf("provision:\n%s", both.Provision)
	}
	if fresh.Setup != "" || fresh.Base != "" || len(fresh.Copy) != 1 {
		t.Errorf("without production: %+v", fresh)
	}
}
