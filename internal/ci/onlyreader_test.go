package ci

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// allowedEnvReaders are the non-test files outside this package that may
// read the process environment, and why. Besides these, test-support
// packages (a folder named like testutil, miniotest, forgetest) may: they
// decide between "fail under CI" and "skip here", and are never part of
// the binary. And PATH may be read to hand it to a child process: it is
// plumbing, not configuration.
var allowedEnvReaders = map[string]string{
	"internal/testutil/testutil.go": "test helper",
	// The variables that move git's repository (GIT_DIR, ...) are read
	// from the environment git itself gets: Files then leaves the
	// repository to git rather than read another one than git would.
	"gitops/files.go": "git's own environment, which its child git processes inherit",
}

func testSupport(rel string) bool {
	dir := filepath.Base(filepath.Dir(rel))
	return strings.HasSuffix(dir, "test") || dir == "testutil" || strings.HasPrefix(rel, "internal/testutil/")
}

// TestOnlyThisPackageReadsTheEnvironment keeps the promise in the package
// doc: every other package asks ci (or an Env handed to it), so tests can
// give any environment and secrets have one door. It parses every Go file
// of the module and reports calls to os.Getenv and os.LookupEnv.
func TestOnlyThisPackageReadsTheEnvironment(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if name := d.Name(); rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") ||
			strings.HasPrefix(rel, "internal/ci/") || allowedEnvReaders[rel] != "" || testSupport(rel) {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			// Someone's file may be mid-edit; the compiler reports it.
			t.Logf("skipping %s: %v", rel, err)
			return nil
		}
		checked++
		osName := ""
		for _, imp := range f.Imports {
			if imp.Path.Value == `"os"` {
				osName = "os"
				if imp.Name != nil {
					osName = imp.Name.Name
				}
			}
		}
		if osName == "" {
			return nil
		}
		isEnvRead := func(n ast.Node) (*ast.SelectorExpr, bool) {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return nil, false
			}
			id, ok := sel.X.(*ast.Ident)
			return sel, ok && id.Name == osName && (sel.Sel.Name == "Getenv" || sel.Sel.Name == "LookupEnv")
		}
		// Calls that read PATH (to hand it to a child process) are allowed.
		pathReads := map[*ast.SelectorExpr]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok && len(call.Args) == 1 {
				if sel, ok := isEnvRead(call.Fun); ok {
					if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Value == `"PATH"` {
						pathReads[sel] = true
					}
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := isEnvRead(n); ok && !pathReads[sel] {
				t.Errorf("%s: os.%s outside internal/ci: take a ci.Env (stages: env.CI.Env) instead",
					fset.Position(sel.Pos()), sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("only %d Go files checked: the walk is not seeing the module", checked)
	}
}
