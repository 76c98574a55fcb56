package artifacts

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pipeline-ci/pipeline/internal/ci"
	"github.com/pipeline-ci/pipeline/internal/config"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// Settings are what Open needs besides the URL.
type Settings struct {
	// Base is the directory a relative file:// path is relative to (the
	// repository).
	Base string
	// S3 is artifacts.s3 from pipeline.yaml.
	S3 config.S3
	// Env is where credential variables are looked up (never os.Getenv).
	Env ci.Env
}

// Default names of the S3 credential variables when pipeline.yaml names none.
const (
	DefaultAccessKeyEnv = "AWS_ACCESS_KEY_ID"
	DefaultSecretKeyEnv = "AWS_SECRET_ACCESS_KEY"
)

// Open returns the store at rawURL: file://DIR (relative to s.Base unless
// absolute) or s3://bucket/prefix. For S3, the endpoint and region come from
// s.S3, else from AWS_ENDPOINT_URL and AWS_REGION; the credentials from the
// variables s.S3 names (default AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
func Open(ctx context.Context, rawURL string, s Settings) (Store, error) {
	switch {
	case rawURL == "" || strings.HasPrefix(rawURL, "file://"):
		dir := strings.TrimPrefix(rawURL, "file://")
		if dir == "" {
			dir = ".pipeline/artifacts"
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(s.Base, dir)
		}
		st, err := NewFileStore(dir)
		if err != nil {
			return nil, errs.New(errs.Usage, err, "artifacts.url must name a directory this job can write")
		}
		return st, nil
	case strings.HasPrefix(rawURL, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(rawURL, "s3://"), "/")
		if bucket == "" {
			return nil, errs.Usagef("artifacts.url %q has no bucket: write s3://BUCKET/PREFIX", rawURL)
		}
		o, err := s3Options(s)
		if err != nil {
			return nil, err
		}
		return NewS3Store(ctx, bucket, prefix, o)
	}
	return nil, errs.Usagef("artifacts.url %q: want file://DIR or s3://BUCKET/PREFIX", rawURL)
}

func s3Options(s Settings) (S3Options, error) {
	env := s.Env
	if env == nil {
		env = ci.MapEnv{}
	}
	o := S3Options{
		Endpoint:     s.S3.Endpoint,
		Region:       s.S3.Region,
		Insecure:     s.S3.Insecure,
		AccessKeyVar: orDefault(s.S3.AccessKeyEnv, DefaultAccessKeyEnv),
		SecretKeyVar: orDefault(s.S3.SecretKeyEnv, DefaultSecretKeyEnv),
	}
	if o.Endpoint == "" {
		if e := ci.Get(env, "AWS_ENDPOINT_URL"); e != "" {
			o.Insecure = strings.HasPrefix(e, "http://")
			o.Endpoint = strings.TrimRight(strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://"), "/")
		}
	} else if strings.Contains(o.Endpoint, "://") {
		// Accept a URL too: its scheme says whether to use TLS.
		o.Insecure = o.Insecure || strings.HasPrefix(o.Endpoint, "http://")
		o.Endpoint = strings.TrimRight(o.Endpoint[strings.Index(o.Endpoint, "://")+3:], "/")
	}
	if o.Region == "" {
		o.Region = orDefault(ci.Get(env, "AWS_REGION"), ci.Get(env, "AWS_DEFAULT_REGION"))
	}
	o.AccessKey = ci.Get(env, o.AccessKeyVar)
	o.SecretKey = ci.Get(env, o.SecretKeyVar)
	if o.AccessKey == "" || o.SecretKey == "" {
		return o, errs.New(errs.Usage, fmt.Errorf("artifact store: no S3 credentials: %s and %s must both be set", o.AccessKeyVar, o.SecretKeyVar),
			"set them as masked CI variables, or name other variables in artifacts.s3.access_key_env / secret_key_env")
	}
	return o, nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}
