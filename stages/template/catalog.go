package template

import (
	"sort"
	"strconv"
	"strings"
)

// Catalog is a Vagrant box catalog ("box metadata"): what `vagrant box add
// URL` reads, and what `vagrant box outdated` checks for a newer version.
type Catalog struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Versions    []CatalogVersion `json:"versions"`
}

// CatalogVersion is one published template. Vagrant reads version, status
// and providers; key and created are ours (Vagrant ignores them).
type CatalogVersion struct {
	Version     string            `json:"version"`
	Status      string            `json:"status,omitempty"`
	Description string            `json:"description_markdown,omitempty"`
	Key         string            `json:"pipeline_key"`
	Created     string            `json:"created"`
	Providers   []CatalogProvider `json:"providers"`
}

// CatalogProvider is one box file of a version.
type CatalogProvider struct {
	Name         string `json:"name"`
	URL          string `json:"url"`
	Checksum     string `json:"checksum"`
	ChecksumType string `json:"checksum_type"`
}

// BuildCatalog makes the catalog from every version object found in the
// store: newest first, one entry per version (a later duplicate, which only
// two runs in the same second could make, is dropped).
func BuildCatalog(name, description string, versions []CatalogVersion) Catalog {
	vs := append([]CatalogVersion(nil), versions...)
	sort.SliceStable(vs, func(i, j int) bool { return CompareVersions(vs[i].Version, vs[j].Version) > 0 })
	var out []CatalogVersion
	for i, v := range vs {
		if i > 0 && vs[i-1].Version == v.Version {
			continue
		}
		out = append(out, v)
	}
	if out == nil {
		out = []CatalogVersion{}
	}
	return Catalog{Name: name, Description: description, Versions: out}
}

// Prune splits versions into the newest keep ones and the older rest.
// keep <= 0 keeps everything.
func Prune(versions []CatalogVersion, keep int) (kept, dropped []CatalogVersion) {
	vs := append([]CatalogVersion(nil), versions...)
	sort.SliceStable(vs, func(i, j int) bool { return CompareVersions(vs[i].Version, vs[j].Version) > 0 })
	if keep <= 0 || len(vs) <= keep {
		return vs, nil
	}
	return vs[:keep], vs[keep:]
}

// CompareVersions orders versions the way Vagrant does for ours: dot
// separated segments, numbers compared as numbers, other segments as
// text; a missing segment counts as 0. It returns -1, 0 or 1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		x, y := "0", "0"
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.ParseUint(x, 10, 64)
		yn, yerr := strconv.ParseUint(y, 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		case xerr == nil: // a number sorts after text (1.0 > 1.0.rc1), as in RubyGems
			return 1
		case yerr == nil:
			return -1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}
