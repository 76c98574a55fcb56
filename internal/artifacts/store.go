// Package artifacts is the artifact store: where build, template and
// integration put what they publish. A Store is a local directory (file://)
// or an S3 bucket prefix (s3://, MinIO in tests). Writes are verified and
// never leave a half-written object under its final name.
//
// Open returns the store pipeline.yaml's artifacts.url names (credentials
// looked up through the CI environment); PublishDir uploads a directory,
// skipping what is already stored with the same sha256, and WriteManifest
// records a build's objects. miniotest starts a real MinIO for tests.
package artifacts

import (
	"context"
	"errors"
	"io"
)

// Store is an artifact store. Keys are slash-separated paths below the
// store's root.
type Store interface {
	// URL is the address of key, for reports and links.
	URL(key string) string
	// PutFile uploads the local file at path under key and verifies it
	// (size and sha256) before returning.
	PutFile(ctx context.Context, key, path string) (Object, error)
	// Put uploads size bytes from r under key, verified like PutFile.
	Put(ctx context.Context, key string, r io.Reader, size int64) (Object, error)
	// Stat returns the object's metadata or an error wrapping ErrNotExist.
	Stat(ctx context.Context, key string) (Object, error)
	// Get writes the object to w.
	Get(ctx context.Context, key string, w io.Writer) error
	// List returns the objects whose key starts with prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]Object, error)
	Delete(ctx context.Context, key string) error
}

// Object describes a stored object.
type Object struct {
	Key    string `json:"key"`
	URL    string `json:"url"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ErrNotExist is wrapped by Stat and Get when the key is absent.
var ErrNotExist = errors.New("artifact does not exist")
