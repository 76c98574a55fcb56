package artifacts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/pipeline-ci/pipeline/internal/errs"
)

// metaSHA256 is the user metadata that carries an object's sha256.
const metaSHA256 = "Sha256"

// incoming is the key prefix, below the store's prefix, where uploads go
// before they are verified and copied to their final key.
const incoming = ".incoming/"

// S3Store is a Store in an S3 bucket below a key prefix (s3://bucket/prefix).
type S3Store struct {
	client   *minio.Client
	bucket   string
	prefix   string // "" or "a/b/"
	baseURL  string // http(s)://endpoint/bucket/
	endpoint string
	// PartSize is the multipart part size; files larger than it are sent in
	// parts (default 16 MiB).
	PartSize uint64
	// Attempts is how many times an upload is tried (default 3).
	Attempts int
}

// S3Options are what NewS3Store needs besides the bucket and prefix.
type S3Options struct {
	Endpoint  string // host:port; default s3.amazonaws.com
	Region    string
	Insecure  bool   // plain http
	AccessKey string // values, not variable names
	SecretKey string
	// AccessKeyVar and SecretKeyVar are the variable names, only for messages.
	AccessKeyVar, SecretKeyVar string
	// MaxRetries is how often the client retries one request (default 4).
	MaxRetries int
	// Transport replaces the HTTP transport (a custom CA; tests inject faults).
	Transport http.RoundTripper
}

// NewS3Store connects to bucket and checks that it exists and that the
// credentials work. An unreachable endpoint is an errs.Infra error, refused
// credentials or a missing bucket an errs.Usage error with a hint.
func NewS3Store(ctx context.Context, bucket, prefix string, o S3Options) (*S3Store, error) {
	if o.Endpoint == "" {
		o.Endpoint = "s3.amazonaws.com"
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 4
	}
	client, err := minio.New(o.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""),
		Secure:     !o.Insecure,
		Region:     o.Region,
		MaxRetries: o.MaxRetries,
		Transport:  o.Transport,
		// Checksums of streamed parts travel in trailing headers.
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, errs.New(errs.Usage, fmt.Errorf("artifact store s3://%s: endpoint %q: %w", bucket, o.Endpoint, err),
			"set artifacts.s3.endpoint to host:port, without a scheme")
	}
	scheme := "https"
	if o.Insecure {
		scheme = "http"
	}
	s := &S3Store{
		client: client, bucket: bucket, endpoint: o.Endpoint,
		prefix:   strings.Trim(prefix, "/"),
		baseURL:  scheme + "://" + o.Endpoint + "/" + bucket + "/",
		PartSize: 16 << 20, Attempts: 3,
	}
	if s.prefix != "" {
		s.prefix += "/"
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok, err := client.BucketExists(cctx, bucket)
	if err != nil {
		return nil, s.classify(fmt.Sprintf("artifact store s3://%s at %s", bucket, o.Endpoint), err, o)
	}
	if !ok {
		return nil, errs.New(errs.Usage, fmt.Errorf("artifact store s3://%s at %s: the bucket does not exist", bucket, o.Endpoint),
			"create the bucket (mc mb ALIAS/"+bucket+") or fix artifacts.url in pipeline.yaml")
	}
	return s, nil
}

// classify turns a client error into the exit-code contract: refused
// credentials are a configuration error naming the variables to check,
// anything that is not an answer from the server an infrastructure error.
func (s *S3Store) classify(what string, err error, o S3Options) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed":
		vars := "the access key and secret key variables"
		if o.AccessKeyVar != "" {
			vars = o.AccessKeyVar + " and " + o.SecretKeyVar
		}
		return errs.New(errs.Usage, fmt.Errorf("%s: the server refused the credentials (%s: %s)", what, resp.Code, resp.Message),
			"check "+vars+" (named by artifacts.s3.access_key_env / secret_key_env) and that this key may write to the bucket")
	case "NoSuchBucket":
		return errs.New(errs.Usage, fmt.Errorf("%s: the bucket does not exist", what), "create the bucket or fix artifacts.url")
	}
	if resp.Code != "" {
		return errs.Infraf("%s: %s: %s", what, resp.Code, resp.Message)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return errs.New(errs.Infra, fmt.Errorf("%s: %w", what, err),
		"the S3 endpoint did not answer: check artifacts.s3.endpoint ("+s.endpoint+"), the network, and artifacts.s3.insecure for a plain-http server")
}

func (s *S3Store) key(k string) string { return s.prefix + strings.TrimLeft(k, "/") }

// URL is the http(s) address of key (path-style).
func (s *S3Store) URL(key string) string {
	return s.baseURL + (&url.URL{Path: s.key(key)}).EscapedPath()
}

// PutFile uploads the file at src under key. See Put.
func (s *S3Store) PutFile(ctx context.Context, key, src string) (Object, error) {
	sum, size, err := HashFile(src)
	if err != nil {
		return Object{}, fmt.Errorf("upload %s: %w", src, err)
	}
	var last error
	for attempt := 1; attempt <= s.attempts(); attempt++ {
		obj, err := s.put(ctx, key, src, size, sum)
		if err == nil {
			return obj, nil
		}
		last = err
		if errs.KindOf(err) == errs.Usage || ctx.Err() != nil || attempt == s.attempts() {
			break // retrying refused credentials or a cancelled build helps no one
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	return Object{}, last
}

// Put uploads size bytes of r under key. The reader is spooled to a
// temporary file first, so the upload knows its sha256 up front and can
// be retried.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, size int64) (Object, error) {
	tmp, err := os.CreateTemp("", "pipeline-upload-*")
	if err != nil {
		return Object{}, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Object{}, fmt.Errorf("upload %s: %w", key, err)
	}
	if size >= 0 && n != size {
		return Object{}, fmt.Errorf("upload %s: read %d bytes, expected %d", key, n, size)
	}
	return s.PutFile(ctx, key, tmp.Name())
}

// put is one upload attempt: to a temporary key with the server checking
// the sha256 of every part, then the temporary object's size and sha256
// are checked, copied server-side to the final key, which is checked
// again, and the temporary object deleted. The final key therefore only
// ever holds a complete, verified object.
func (s *S3Store) put(ctx context.Context, key, src string, size int64, sum string) (Object, error) {
	f, err := os.Open(src)
	if err != nil {
		return Object{}, err
	}
	defer f.Close()
	final := s.key(key)
	tmpKey := s.prefix + incoming + randomID() + "-" + path.Base(key)
	what := fmt.Sprintf("upload %s to %s", key, s.URL(key))
	opts := minio.PutObjectOptions{
		UserMetadata: map[string]string{metaSHA256: sum},
		ContentType:  contentType(key),
		PartSize:     s.PartSize,
		Checksum:     minio.ChecksumSHA256,
	}
	defer func() { //nolint:contextcheck // cleanup after a cancel needs a context of its own
		// The temporary object goes whatever happened; a fresh context so
		// a cancelled build still cleans up.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.client.RemoveObject(cctx, s.bucket, tmpKey, minio.RemoveObjectOptions{})
	}()
	if _, err := s.client.PutObject(ctx, s.bucket, tmpKey, f, size, opts); err != nil {
		return Object{}, s.classify(what, err, S3Options{})
	}
	if err := s.verify(ctx, tmpKey, size, sum, src); err != nil {
		return Object{}, fmt.Errorf("%s: %w", what, err)
	}
	// The copy may be a multipart copy, which keeps neither the source's
	// metadata nor its Content-Type: set both again.
	dst := minio.CopyDestOptions{Bucket: s.bucket, Object: final, ReplaceMetadata: true,
		UserMetadata: map[string]string{metaSHA256: sum, "Content-Type": contentType(key)}}
	if _, err := s.client.ComposeObject(ctx, dst, minio.CopySrcOptions{Bucket: s.bucket, Object: tmpKey}); err != nil {
		return Object{}, s.classify(what, err, S3Options{})
	}
	if err := s.verify(ctx, final, size, sum, ""); err != nil {
		return Object{}, fmt.Errorf("%s: %w", what, err)
	}
	return Object{Key: key, URL: s.URL(key), Size: size, SHA256: sum}, nil
}

// Copy copies the object at src to dst server-side, keeping its sha256,
// and verifies the copy.
func (s *S3Store) Copy(ctx context.Context, src, dst string) (Object, error) {
	from, err := s.Stat(ctx, src)
	if err != nil {
		return Object{}, err
	}
	what := fmt.Sprintf("copy %s to %s", s.URL(src), s.URL(dst))
	to := minio.CopyDestOptions{Bucket: s.bucket, Object: s.key(dst), ReplaceMetadata: true,
		UserMetadata: map[string]string{metaSHA256: from.SHA256, "Content-Type": contentType(dst)}}
	if _, err := s.client.ComposeObject(ctx, to, minio.CopySrcOptions{Bucket: s.bucket, Object: s.key(src)}); err != nil {
		return Object{}, s.classify(what, err, S3Options{})
	}
	if err := s.verify(ctx, s.key(dst), from.Size, from.SHA256, ""); err != nil {
		return Object{}, fmt.Errorf("%s: %w", what, err)
	}
	return Object{Key: dst, URL: s.URL(dst), Size: from.Size, SHA256: from.SHA256}, nil
}

// verify checks a stored object's size and recorded sha256; given the
// local file src it also checks the checksum the server computed over the bytes it
// received (for a multipart upload, the sha256 of the parts' sha256s,
// which we compute the same way from the local bytes).
func (s *S3Store) verify(ctx context.Context, objKey string, size int64, sum, src string) error {
	info, err := s.client.StatObject(ctx, s.bucket, objKey, minio.StatObjectOptions{Checksum: src != ""})
	if err != nil {
		return s.classify("verify "+objKey, err, S3Options{})
	}
	if info.Size != size {
		return fmt.Errorf("verification failed: %d bytes stored, %d sent", info.Size, size)
	}
	if got := info.UserMetadata[metaSHA256]; got != sum {
		return fmt.Errorf("verification failed: stored sha256 %q, sent %s", got, sum)
	}
	if src != "" {
		if info.ChecksumSHA256 == "" {
			return errors.New("verification failed: the server reports no sha256 checksum for the upload")
		}
		want, err := s.expectedChecksum(src, size, sum)
		if err != nil {
			return err
		}
		if info.ChecksumSHA256 != want {
			return fmt.Errorf("verification failed: server checksum %s, expected %s", info.ChecksumSHA256, want)
		}
	}
	return nil
}

// expectedChecksum is the x-amz-checksum-sha256 the server should report:
// base64 of the sha256 for a single-part upload; for a multipart one, the
// base64 sha256 of the concatenated part sha256s, then "-<parts>".
func (s *S3Store) expectedChecksum(src string, size int64, sum string) (string, error) {
	if s.PartSize == 0 || uint64(size) <= s.PartSize {
		raw, _ := hex.DecodeString(sum)
		return base64.StdEncoding.EncodeToString(raw), nil
	}
	return partsChecksum(src, s.PartSize)
}

func (s *S3Store) attempts() int {
	if s.Attempts < 1 {
		return 1
	}
	return s.Attempts
}

// Stat returns the object's size and recorded sha256.
func (s *S3Store) Stat(ctx context.Context, key string) (Object, error) {
	info, err := s.client.StatObject(ctx, s.bucket, s.key(key), minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return Object{}, fmt.Errorf("%s: %w", s.URL(key), ErrNotExist)
		}
		return Object{}, s.classify("stat "+s.URL(key), err, S3Options{})
	}
	return Object{Key: key, URL: s.URL(key), Size: info.Size, SHA256: info.UserMetadata[metaSHA256]}, nil
}

// Get downloads the object to w.
func (s *S3Store) Get(ctx context.Context, key string, w io.Writer) error {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(key), minio.GetObjectOptions{})
	if err != nil {
		return s.classify("get "+s.URL(key), err, S3Options{})
	}
	defer obj.Close()
	if _, err := io.Copy(w, obj); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return fmt.Errorf("%s: %w", s.URL(key), ErrNotExist)
		}
		return s.classify("get "+s.URL(key), err, S3Options{})
	}
	return nil
}

// List lists the objects below prefix, leaving out unfinished uploads.
func (s *S3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	for info := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.key(prefix), Recursive: true, WithMetadata: true}) {
		if info.Err != nil {
			return nil, s.classify("list "+s.URL(prefix), info.Err, S3Options{})
		}
		key := strings.TrimPrefix(info.Key, s.prefix)
		if strings.HasPrefix(key, incoming) {
			continue
		}
		out = append(out, Object{Key: key, URL: s.URL(key), Size: info.Size, SHA256: info.UserMetadata["X-Amz-Meta-"+metaSHA256]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes the object; a missing object is not an error.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := s.client.RemoveObject(ctx, s.bucket, s.key(key), minio.RemoveObjectOptions{}); err != nil {
		return s.classify("delete "+s.URL(key), err, S3Options{})
	}
	return nil
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// partsChecksum computes the multipart checksum of the file at p for
// parts of partSize bytes: base64(sha256(sha256(part1)‖…‖sha256(partN)))-N.
func partsChecksum(p string, partSize uint64) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	all := sha256.New()
	parts := 0
	for {
		h := sha256.New()
		n, err := io.CopyN(h, f, int64(partSize))
		if n > 0 {
			all.Write(h.Sum(nil))
			parts++
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(all.Sum(nil)), parts), nil
}

// contentType is the Content-Type an object is served with: by its
// extension (catalog.json must be application/json, or `vagrant box add
// URL` takes it for a box file), else application/octet-stream.
func contentType(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}
