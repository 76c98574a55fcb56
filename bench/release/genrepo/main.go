// Command genrepo makes (or finds, cached) the benchmark repository of
// bench/release and prints its path.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/pipeline-ci/pipeline/bench/release/benchrepo"
)

func main() {
	base := flag.String("base", "/var/tmp/pipeline-bench", "cache directory")
	s := benchrepo.Default
	flag.IntVar(&s.Commits, "commits", s.Commits, "commits on main")
	flag.IntVar(&s.Tags, "tags", s.Tags, "release tags")
	flag.IntVar(&s.Unreleased, "unreleased", s.Unreleased, "commits after the last tag")
	flag.Parse()
	dir, err := benchrepo.Ensure(context.Background(), *base, s, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genrepo:", err)
		os.Exit(1)
	}
	fmt.Println(dir)
}
