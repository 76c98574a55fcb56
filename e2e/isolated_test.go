package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/pipeline-ci/pipeline/runners/runnertest"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestGitLabCIIsolated runs testdata/isolated/*.txtar: a project's CI file
// (the one `pipeline init` writes, or the CI/CD component included) run
// whole by gitlab-ci-local with --shell-isolation, so that every job starts
// from a fresh copy of the repository and gets only the artifacts of the
// jobs it needs, as on GitLab's runners: build → template → integration (two
// shards, then the child-pipeline form) → promote → release against the fake
// forge, on the example appliance (two components); minio.txtar hands off
// through a real MinIO bucket only, with no artifacts between jobs.
//
// The integration targets are chroots of the base the integration stage
// bootstraps and caches itself, in $XDG_CACHE_HOME/pipeline/rootfs with
// XDG_CACHE_HOME set to the test cache (runnertest.CacheDir): the same spec
// as the runner and integration tests' base, so a new machine bootstraps it
// once for all of them (not again in /var/cache/pipeline/rootfs); UPGRADE starts from the build of the last
// release (v1.0.0, built by the script into the store), which the stage
// fetches from the store. The template's base is cached by the template
// stage (/var/tmp/pipeline-cache/template). Each script logs its wall time.
func TestGitLabCIIsolated(t *testing.T) {
	testutil.NeedTool(t, "git")
	testutil.NeedTool(t, "rsync")
	testutil.NeedTool(t, "bwrap")
	testutil.NeedTool(t, "nsenter")
	testutil.NeedTool(t, "mmdebstrap")
	testutil.NeedTool(t, "qemu-img")
	testutil.NeedRoot(t)
	if _, err := os.Stat(gitlabCILocal); err != nil {
		testutil.NeedTool(t, gitlabCILocal) // fails under CI, skips locally: run scripts/deps/e2e.sh
	}
	srv := miniotest.Start(t) // for minio.txtar
	p := params("testdata/isolated")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		env.Setenv("GITLAB_CI_LOCAL", gitlabCILocal)
		env.Setenv("XDG_CACHE_HOME", runnertest.CacheDir)
		// A bucket of its own; apt in the template's image reads the
		// build's repository from it over HTTP, as from a team's bucket
		// behind its public URL.
		bucket := fmt.Sprintf("isolated-%d-%d", os.Getpid(), time.Now().UnixNano())
		ctx := context.Background()
		if err := srv.Client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			return err
		}
		policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`
		if err := srv.Client.SetBucketPolicy(ctx, bucket, policy); err != nil {
			return err
		}
		env.Setenv("STORE", "s3://"+bucket+"/ci")
		env.Setenv("AWS_ENDPOINT_URL", "http://"+srv.Endpoint)
		env.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		env.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		start := time.Now()
		env.Defer(func() {
			env.T().Log("wall time of the whole isolated flow: " + time.Since(start).Round(time.Second).String())
		})
		return setup(env)
	}
	testscript.Run(t, p)
}
