package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// buildInfo is what `pipeline version` reports.
type buildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Go      string `json:"go"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				b.Commit = s.Value
			}
		}
	}
	return b
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of pipeline",
		Long: `Print the version of pipeline, the commit it was built from (when known)
and the Go version. Release builds set the version at link time
(-ldflags "-X main.version=1.2.3"); "go install ...@v1.2.3" records it too.`,
		Example: `  pipeline version
  pipeline version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b := currentBuild()
			if a.emitData(b) {
				return nil
			}
			if b.Commit != "" {
				fmt.Fprintf(a.stdout, "pipeline %s (commit %.12s, %s)\n", b.Version, b.Commit, b.Go)
			} else {
				fmt.Fprintf(a.stdout, "pipeline %s (%s)\n", b.Version, b.Go)
			}
			return nil
		},
	}
}
