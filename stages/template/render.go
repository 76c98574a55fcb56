package template

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pipeline-ci/pipeline/templates"
)

// BoxInfo is what the files inside a Vagrant box are rendered from.
type BoxInfo struct {
	Name     string // box name (acme/appliance-dev)
	Version  string
	Key      string
	MemoryMB int
	CPUs     int
	// VirtualBox only: the disk file in the box, its size, the disk's
	// virtual capacity in bytes, and the NIC's MAC address.
	DiskFile     string
	DiskFileSize int64
	Capacity     int64
	MAC          string
}

// VMName is the machine name in the OVF: the box name without its owner.
func (b BoxInfo) VMName() string {
	n := b.Name[strings.LastIndex(b.Name, "/")+1:]
	return n + "-" + b.Version
}

// RenderVagrantfile renders the Vagrantfile packed in the box of provider
// ("libvirt" or "virtualbox") from templates/template/.
func RenderVagrantfile(provider string, info BoxInfo) (string, error) {
	t, err := templates.Parse("template/Vagrantfile."+provider+".tmpl", nil)
	if err != nil {
		return "", err
	}
	return templates.Render(t, info)
}

// RenderOVF renders the VirtualBox box's box.ovf.
func RenderOVF(info BoxInfo) (string, error) {
	t, err := templates.Parse("template/box.ovf.tmpl", nil)
	if err != nil {
		return "", err
	}
	return templates.Render(t, info)
}

// BoxMetadata is the metadata.json of a box of provider. virtualSize is the
// disk's capacity in bytes (the libvirt provider wants whole GiB).
func BoxMetadata(provider string, virtualSize int64) []byte {
	m := map[string]any{"provider": provider}
	if provider == "libvirt" {
		m["format"] = "qcow2"
		m["virtual_size"] = (virtualSize + 1<<30 - 1) >> 30
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

// MACFromKey derives a stable VirtualBox MAC (OUI 08:00:27) from the key,
// written without separators as Vagrant's base_mac wants.
func MACFromKey(key string) string {
	k := (key + "000000")[:6]
	return strings.ToUpper(fmt.Sprintf("080027%s", k))
}
