package template

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Convert writes the raw disk in another format with qemu-img:
// "qcow2", "qcow2-compressed" (zlib clusters, still bootable as is) or
// "vmdk" (streamOptimized, what VirtualBox and OVF want).
func Convert(ctx context.Context, raw, out, format string) error {
	args := []string{"convert", "-f", "raw"}
	switch format {
	case "qcow2":
		args = append(args, "-O", "qcow2")
	case "qcow2-compressed":
		args = append(args, "-O", "qcow2", "-c")
	case "vmdk":
		args = append(args, "-O", "vmdk", "-o", "subformat=streamOptimized")
	default:
		return fmt.Errorf("unknown image format %q", format)
	}
	tmp := out + ".tmp"
	defer os.Remove(tmp)
	if _, err := runCmd(ctx, nil, "", nil, "qemu-img", append(args, raw, tmp)...); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// BoxFile is one file packed into a box.
type BoxFile struct {
	Name    string // name inside the box
	Path    string // local file, or
	Content []byte // content
}

// PackBox writes a Vagrant box: a plain tar (the disk images are already
// compressed, gzip would only cost time) with fixed times and owners.
func PackBox(path string, files []BoxFile, mtime time.Time) error {
	tmp := path + ".tmp"
	defer os.Remove(tmp)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, bf := range files {
		hdr := &tar.Header{Name: bf.Name, Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		var r io.Reader
		if bf.Path != "" {
			in, err := os.Open(bf.Path)
			if err != nil {
				f.Close()
				return err
			}
			defer in.Close()
			st, _ := in.Stat()
			hdr.Size, r = st.Size(), in
		} else {
			hdr.Size = int64(len(bf.Content))
			r = bytesReader(bf.Content)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return err
		}
		if _, err := io.Copy(tw, r); err != nil {
			f.Close()
			return fmt.Errorf("box %s: %w", filepath.Base(path), err)
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
