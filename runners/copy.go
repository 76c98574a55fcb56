package runners

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
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
// refusing entries that would escape it: names with "..", symbolic links
// that are absolute or climb out of dst, hard links to outside top. Writes
// go through an os.Root on dst's parent, so not even a link already in dst
// can lead them elsewhere. The stream comes from the target, which must
// not be able to write anywhere on this machine.
func unpackTar(r io.Reader, top, dst string) error {
	parent, base := filepath.Dir(dst), filepath.Base(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(parent)
	if err != nil {
		return err
	}
	defer root.Close()
	inside := func(name string) (string, error) {
		name = path.Clean(name)
		switch {
		case name == top:
			return "", nil
		case strings.HasPrefix(name, top+"/"):
			rel := strings.TrimPrefix(name, top+"/")
			if rel == ".." || strings.HasPrefix(rel, "../") {
				return "", fmt.Errorf("entry %q escapes the destination", name)
			}
			return rel, nil
		}
		return "", fmt.Errorf("unexpected entry %q in archive", name)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := inside(h.Name)
		if err != nil {
			return err
		}
		p := path.Join(base, rel) // in root
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := root.MkdirAll(path.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := root.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
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
			to := path.Join(path.Dir(rel), h.Linkname)
			if rel == "" || path.IsAbs(h.Linkname) || to == ".." || strings.HasPrefix(to, "../") {
				return fmt.Errorf("symbolic link %q -> %q leaves the destination %s: refused (copy what it points to instead)", h.Name, h.Linkname, dst)
			}
			_ = root.Remove(p)
			if err := root.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := inside(h.Linkname)
			if err != nil {
				return fmt.Errorf("hard link %q -> %q: %w", h.Name, h.Linkname, err)
			}
			_ = root.Remove(p)
			if err := root.Link(path.Join(base, target), p); err != nil {
				return err
			}
		}
	}
}
