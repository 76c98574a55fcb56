// Command pipeline is the stage runner an OS-distribution / appliance team
// calls from CI: build, template, integration, promote and release.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pipeline-ci/pipeline/internal/errs"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := newApp(os.Stdout, os.Stderr)
	err := newRootCmd(a).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pipeline: "+a.mask(err.Error()))
	}
	os.Exit(errs.Code(err))
}
