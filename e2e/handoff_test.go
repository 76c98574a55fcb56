package e2e

import (
	"testing"

	"github.com/pipeline-ci/pipeline/internal/artifacts/miniotest"
	"github.com/pipeline-ci/pipeline/internal/testutil"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestHandoffS3 runs testdata/handoff-s3/*.txtar against a real MinIO:
// jobs that share nothing but the S3 bucket (STORE=s3://BUCKET/ci, the
// credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the endpoint
// in AWS_ENDPOINT_URL) hand off through it.
func TestHandoffS3(t *testing.T) {
	testutil.NeedTool(t, "git")
	srv := miniotest.Start(t)
	p := params("testdata/handoff-s3")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		env.Setenv("STORE", "s3://"+srv.Bucket(t)+"/ci")
		env.Setenv("AWS_ENDPOINT_URL", "http://"+srv.Endpoint)
		env.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		env.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
		return nil
	}
	testscript.Run(t, p)
}
