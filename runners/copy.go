package runners

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Every runner copies files the same way: a tar stream through Run, packed
// and unpacked here in Go and by tar(1) on the target. It needs nothing on
// the target but sh and tar, and works the same over ssh, podman exec and
// nsenter.

// CopyInTar copies the local file or directory src to dst on r.
func CopyInTar(ctx context.Context, r Runner, src, dst string) error {
	var buf bytes.Buffer
	if err := packTar(&buf, src, path.Base(dst)); err != nil {
		return fmt.Errorf("copy %s to %s:%s: %w", src, r.Target(), dst, err)
	}
	dir := path.Dir(dst)
	out, err := r.Run(ctx, Command{
		Script: "mkdir -p " + Quote(dir) + " && tar -C " + Quote(dir) + " --no-same-owner -xf -",
		Stdin:  &buf,
	})
	if err != nil {
		return err
	}
	if out.Exit != 0 {
		return fmt.Errorf("copy %s to %s:%s: tar exited %d: %s", src, r.Target(), dst, out.Exit, strings.TrimSpace(string(out.Stderr)))
	}
	return nil
}

// CopyOutTar copies the file or directory src on r to the local dst.
func CopyOutTar(ctx context.Context, r Runner, src, dst string) error {
	out, err := r.Run(ctx, Command{Script: "tar -C " + Quote(path.Dir(src)) + " -cf - " + Quote(path.Base(src))})
	if err != nil {
		return err
	}
	if out.Exit != 0 {
		return fmt.Errorf("copy %s:%s to %s: tar exited %d: %s", r.Target(), src, dst, out.Exit, strings.TrimSpace(string(out.Stderr)))
	}
	if err := unpackTar(bytes.NewReader(out.Stdout), path.Base(src), dst); err != nil {
		return fmt.Errorf("copy %s:%s to %s: %w", r.Target(), src, dst, err)
	}
	return nil
}

// packTar writes src (file or tree) into a tar stream whose top entry is
// named top.
func packTar(w io.Writer, src, top string) error {
	tw := tar.NewWriter(w)
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := top
		if rel != "." {
			name = top + "/" + filepath.ToSlash(rel)
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = name
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "root", "root"
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// unpackTar extracts a stream whose entries all sit under top into dst,
// refusing entries that would escape it.
func unpackTar(r io.Reader, top, dst string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		var rel string
		switch {
		case name == top:
			rel = ""
		case strings.HasPrefix(name, top+"/"):
			rel = strings.TrimPrefix(name, top+"/")
		default:
			return fmt.Errorf("unexpected entry %q in archive", h.Name)
		}
		if strings.HasPrefix(rel, "../") || rel == ".." {
			return fmt.Errorf("entry %q escapes the destination", h.Name)
		}
		p := filepath.Join(dst, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.Remove(p)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		}
	}
}
