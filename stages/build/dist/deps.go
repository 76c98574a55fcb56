package dist

import (
	"fmt"
	"sort"
	"strings"
)

// Relation is one parsed dependency alternative: a name and an optional
// version constraint.
type Relation struct {
	Name    string
	Op      string // "", "=", "<<", "<=", ">=", ">>" (deb) or "<", "<=", "=", ">=", ">" (rpm)
	Version string
}

// ParseClause parses one dependency clause of format f into its
// alternatives: deb "a (>= 1) | b:any", rpm "a >= 1" (rpm clauses have one
// alternative, rich dependencies in parentheses are kept as one opaque name).
func ParseClause(f Format, clause string) []Relation {
	if f == RPM {
		fs := strings.Fields(clause)
		if len(fs) == 3 && !strings.HasPrefix(clause, "(") {
			return []Relation{{Name: fs[0], Op: fs[1], Version: fs[2]}}
		}
		return []Relation{{Name: clause}}
	}
	var out []Relation
	for _, alt := range strings.Split(clause, "|") {
		alt = strings.TrimSpace(alt)
		r := Relation{Name: alt}
		if i := strings.IndexByte(alt, '('); i >= 0 {
			r.Name = strings.TrimSpace(alt[:i])
			c := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(alt[i+1:]), ")"))
			for _, op := range []string{"<<", "<=", ">=", ">>", "=", "<", ">"} {
				if strings.HasPrefix(c, op) {
					r.Op, r.Version = op, strings.TrimSpace(c[len(op):])
					break
				}
			}
		}
		if i := strings.IndexByte(r.Name, '['); i >= 0 { // build-profile/arch qualifiers
			r.Name = strings.TrimSpace(r.Name[:i])
		}
		r.Name, _, _ = strings.Cut(r.Name, ":") // multiarch qualifier (:any, :native)
		if r.Name != "" {
			out = append(out, r)
		}
	}
	return out
}

// satisfiedBy reports whether a package providing name at version (""
// when unversioned) satisfies r.
func (r Relation) satisfiedBy(f Format, version string) bool {
	if r.Op == "" {
		return true
	}
	if version == "" {
		return false
	}
	c := Compare(f, version, r.Version)
	switch r.Op {
	case "=":
		return c == 0
	case "<<", "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">=":
		return c >= 0
	case ">>", ">":
		return c > 0
	}
	return false
}

// Base is the base distribution our packages install on: the names (and
// virtual names) it provides, each with a version when known.
type Base struct {
	// Names maps a package or virtual name to the versions available ("" for
	// a name listed without version, which satisfies unversioned
	// dependencies and, being a trusted list, versioned ones too).
	Names map[string][]string
}

// NewBase makes a Base from a plain list of names.
func NewBase(names ...string) *Base {
	b := &Base{Names: map[string][]string{}}
	for _, n := range names {
		b.Add(n, "*")
	}
	return b
}

// Add records that the base provides name at version ("*": any version).
func (b *Base) Add(name, version string) {
	if b.Names == nil {
		b.Names = map[string][]string{}
	}
	b.Names[name] = append(b.Names[name], version)
}

// AddIndex adds every package of a Debian Packages index (or a dpkg status
// file): names at their versions and what they provide.
func (b *Base) AddIndex(text string) error {
	for i, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		f, err := ParseControl(strings.TrimLeft(para, "\n"))
		if err != nil {
			return fmt.Errorf("paragraph %d: %w", i+1, err)
		}
		name, ver := f["Package"], f["Version"]
		if name == "" {
			return fmt.Errorf("paragraph %d has no Package field", i+1)
		}
		b.Add(name, ver)
		for _, p := range splitClauses(f["Provides"]) {
			for _, r := range ParseClause(Deb, p) {
				if r.Op == "=" {
					b.Add(r.Name, r.Version)
				} else {
					b.Add(r.Name, "")
				}
			}
		}
	}
	return nil
}

// Unsatisfied is a dependency of one of our packages that nothing satisfies.
type Unsatisfied struct {
	Package string `json:"package"` // "appliance-agent 1.0-1 amd64 (deb)"
	Depends string `json:"depends"` // the clause as written
}

func (u Unsatisfied) String() string { return u.Package + " depends on " + u.Depends }

// Check returns the dependencies of the locked packages that neither a
// locked package (of the same format) nor the base distribution satisfies,
// sorted. base may be nil.
func Check(l *Lock, base *Base) []Unsatisfied {
	provides := map[Format]map[string][]string{Deb: {}, RPM: {}}
	for _, p := range l.Packages {
		m := provides[p.Format]
		m[p.Name] = append(m[p.Name], p.FullVersion())
		for _, pv := range p.Provides {
			for _, r := range ParseClause(p.Format, pv) {
				v := ""
				if r.Op == "=" {
					v = r.Version
				}
				m[r.Name] = append(m[r.Name], v)
			}
		}
	}
	var out []Unsatisfied
	for _, p := range l.Packages {
		for _, clause := range p.Depends {
			if !clauseSatisfied(p.Format, clause, provides[p.Format], base) {
				out = append(out, Unsatisfied{Package: p.String(), Depends: clause})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Package != out[j].Package {
			return out[i].Package < out[j].Package
		}
		return out[i].Depends < out[j].Depends
	})
	return out
}

func clauseSatisfied(f Format, clause string, ours map[string][]string, base *Base) bool {
	for _, r := range ParseClause(f, clause) {
		for _, v := range ours[r.Name] {
			if r.satisfiedBy(f, v) {
				return true
			}
		}
		if base == nil {
			continue
		}
		for _, v := range base.Names[r.Name] {
			if v == "*" || r.satisfiedBy(f, v) {
				return true
			}
		}
	}
	return false
}
