// Command pipeline is the stage runner an OS-distribution / appliance team
// calls from CI: build, template, integration, promote and release.
//
// This package is thin: cobra commands (one file each) that parse flags
// and hand over to the stages; app.go builds what every command runs with
// and turns the outcome into output and an exit code.
package main

import (
	"context"
	"os"
	"syscall"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/proc"
)

func main() {
	os.Exit(pipelineMain())
}

// pipelineMain runs the command line in os.Args and returns the exit code;
// the testscript tests run it as the `pipeline` program.
func pipelineMain() int {
	// SIGTERM (a cancelled GitLab job, a stopped Jenkins build) or Ctrl-C
	// cancels the run: children's process groups are stopped, final
	// statuses posted, and the error says "cancelled (SIGTERM)".
	ctx, stop := proc.SignalContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return newApp(os.Stdout, os.Stderr, ci.OS).execute(ctx, os.Args[1:])
}
