package config

import (
	"fmt"
	"strings"
)

// Build is the `build:` section of pipeline.yaml: the components that make
// the distribution's packages, the base distribution they install on, the
// meta-package that pins them, and the repositories they are published in.
type Build struct {
	Parallel    int         `yaml:"parallel" doc:"How many components build at once (independent ones only). Default: the number of CPUs."`
	Output      string      `yaml:"output" doc:"Local directory for the lock, the meta-packages and the repositories, relative to the repository. Default: .pipeline/build."`
	Components  []Component `yaml:"components" doc:"The components of the distribution, each building one or more packages."`
	Base        BuildBase   `yaml:"base" doc:"The base distribution the packages install on: what satisfies dependencies outside our own packages."`
	Metapackage Metapackage `yaml:"metapackage" doc:"The meta-package depending on every package at exactly its locked version."`
	APT         APT         `yaml:"apt" doc:"The APT repository written for the .deb packages."`
	YUM         YUM         `yaml:"yum" doc:"The YUM repository written for the .rpm packages."`
}

// Component is one part of the distribution: a command that builds
// packages, or a directory of prebuilt ones.
type Component struct {
	Name     string            `yaml:"name" pipeline:"required" doc:"Name of the component, used in the log and in after: lists."`
	Command  string            `yaml:"command" pipeline:"nonempty" doc:"Shell command that builds the packages, run with sh -c in dir (e.g. make -C agent deb)."`
	Dir      string            `yaml:"dir" doc:"Working directory of the command, relative to the repository. Default: the repository."`
	Packages []string          `yaml:"packages" pipeline:"nonempty" doc:"Globs, relative to the repository, of the .deb/.rpm files the command produces."`
	Prebuilt string            `yaml:"prebuilt" pipeline:"nonempty" doc:"A directory (relative to the repository) of prebuilt .deb/.rpm files, instead of a command."`
	After    []string          `yaml:"after" pipeline:"nonempty" doc:"Components that must be built before this one."`
	Env      map[string]string `yaml:"env" doc:"Extra environment for the command."`
	Timeout  Duration          `yaml:"timeout" doc:"Stop the command after this long, e.g. 20m. Default: no limit."`
}

// BuildBase is the base distribution: names (and virtual names) that exist
// without us building them.
type BuildBase struct {
	Packages []string `yaml:"packages" pipeline:"nonempty" doc:"Package and virtual names the base distribution provides (any version), e.g. libc6, systemd, /bin/sh."`
	Index    []string `yaml:"index" pipeline:"nonempty" doc:"Debian Packages index files (or dpkg status files; .gz allowed), relative to the repository, listing the base distribution with versions."`
}

// Metapackage describes the distribution meta-package.
type Metapackage struct {
	Name        string   `yaml:"name" doc:"Package name. Default: project.name."`
	Formats     []string `yaml:"formats" enum:"deb,rpm" doc:"Formats to build. Default: each format the components produce."`
	Version     string   `yaml:"version" doc:"Version to use instead of the one from git (release tag, or <last tag>+<commits>.g<sha>)."`
	TagPrefix   string   `yaml:"tag_prefix" doc:"Prefix of release tags. Default: v."`
	Maintainer  string   `yaml:"maintainer" doc:"Maintainer field, e.g. Appliance Team <team@example.com>."`
	Vendor      string   `yaml:"vendor" doc:"Vendor field (rpm)."`
	Homepage    string   `yaml:"homepage" doc:"Homepage field."`
	License     string   `yaml:"license" doc:"License field (rpm)."`
	Description string   `yaml:"description" doc:"Description; first line is the synopsis. Default: rendered from templates/build/metapackage.txt.tmpl."`
}

// APT describes the APT repository.
type APT struct {
	Suite         string   `yaml:"suite" doc:"Suite (dists/<suite>). Default: stable."`
	Component     string   `yaml:"component" doc:"Archive component. Default: main."`
	Origin        string   `yaml:"origin" doc:"Origin field of Release. Default: project.name."`
	Label         string   `yaml:"label" doc:"Label field of Release. Default: project.name."`
	Architectures []string `yaml:"architectures" doc:"binary-<arch> indexes to write. Default: the packages' architectures (amd64 if all are arch all)."`
	Sign          APTSign  `yaml:"sign" doc:"Sign the Release file (InRelease, Release.gpg) with this OpenPGP key."`
}

// APTSign names the variables holding the repository signing key.
type APTSign struct {
	KeyEnv        string `yaml:"key_env" doc:"NAME of the environment variable holding the ASCII-armored private key (gpg --armor --export-secret-keys)."`
	PassphraseEnv string `yaml:"passphrase_env" doc:"NAME of the environment variable holding the key's passphrase, if it has one."`
}

// YUM describes the YUM repository.
type YUM struct {
	Enabled *bool `yaml:"enabled" doc:"Write the YUM repository (needs createrepo_c). Default: when there are .rpm packages."`
}

// Validate checks the components: unique names, a command with packages
// or a prebuilt directory, and after: lists naming components without
// cycles.
func (b Build) Validate() []FieldError {
	var out []FieldError
	add := func(path, format string, args ...any) {
		out = append(out, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if b.Parallel < 0 {
		add("parallel", "must be 1 or more (0 means: the number of CPUs)")
	}
	index := map[string]int{}
	for i, c := range b.Components {
		p := fmt.Sprintf("components[%d]", i)
		if c.Name == "" {
			continue // the decoder reports the missing required name
		}
		if j, dup := index[c.Name]; dup {
			add(p+".name", "component %q is already defined at components[%d]: give each component its own name", c.Name, j)
		}
		index[c.Name] = i
		switch {
		case c.Command != "" && c.Prebuilt != "":
			add(p+".prebuilt", "a component has either a command (with packages) or a prebuilt directory, not both")
		case c.Command == "" && c.Prebuilt == "":
			add(p, "component %q needs a command (with packages: globs of what it builds) or a prebuilt: directory", c.Name)
		case c.Command != "" && len(c.Packages) == 0:
			add(p+".command", "component %q has a command but no packages: list the globs of the .deb/.rpm files it produces", c.Name)
		}
	}
	for i, c := range b.Components {
		for j, a := range c.After {
			if _, ok := index[a]; !ok {
				add(fmt.Sprintf("components[%d].after[%d]", i, j), "no component is named %q", a)
			} else if a == c.Name {
				add(fmt.Sprintf("components[%d].after[%d]", i, j), "component %q cannot come after itself", a)
			}
		}
	}
	if cycle := findCycle(b.Components, index); cycle != nil {
		add(fmt.Sprintf("components[%d].after", index[cycle[0]]), "components depend on each other in a cycle: %s", strings.Join(cycle, " → "))
	}
	return out
}

// findCycle returns the names along one after: cycle, or nil.
func findCycle(cs []Component, index map[string]int) []string {
	const (
		unseen = iota
		onPath
		done
	)
	state := make([]int, len(cs))
	var path []string
	var visit func(i int) []string
	visit = func(i int) []string {
		state[i] = onPath
		path = append(path, cs[i].Name)
		for _, a := range cs[i].After {
			j, ok := index[a]
			if !ok || j == i {
				continue
			}
			switch state[j] {
			case onPath:
				for k, n := range path {
					if n == a {
						return append(append([]string(nil), path[k:]...), a)
					}
				}
			case unseen:
				if c := visit(j); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[i] = done
		return nil
	}
	for i := range cs {
		if state[i] == unseen && cs[i].Name != "" {
			if c := visit(i); c != nil {
				return c
			}
		}
	}
	return nil
}
