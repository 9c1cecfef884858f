// Command image writes an OCI image of urumi as an OCI image layout tarball,
// without a container daemon and without pulling anything: one layer holding
// the static binary at /urumi (and, optionally, a CA bundle), run as the
// non-root user 65532:65532, with the OCI labels that say what it is.
//
//	go run . -binary ../../bin/linux/urumi -arch amd64 -version v0.1.0 \
//	  -revision "$(git rev-parse HEAD)" -created 2026-12-01T00:00:00Z \
//	  -out ../../dist/urumi-image.tar
//
// It is a module of its own so that go-containerregistry stays out of
// urumi's go.mod.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed shape; image_test.go checks each of these.
const (
	binaryPath = "urumi"                             // in the image: /urumi
	certsPath  = "etc/ssl/certs/ca-certificates.crt" // where Go's crypto/x509 looks first on Linux
	user       = "65532:65532"                       // non-root, no entry in /etc/passwd needed
	source     = "https://github.com/urumi/urumi"
	title      = "urumi"
	descr      = "urumi: provisions isolated WooCommerce stores on Kubernetes; serves its API with `serve`"
)

// entrypoint and cmd: `docker run IMAGE` serves; `docker run IMAGE store list`
// runs any other command, since arguments replace Cmd, not Entrypoint.
var (
	entrypoint = []string{"/urumi"}
	cmd        = []string{"serve"}
)

// options is what one image is built from.
type options struct {
	binary   string // the static linux binary
	arch     string // GOARCH of that binary
	certs    string // CA bundle to include; "" for none
	version  string
	revision string
	created  time.Time // image and file times; the commit's time keeps builds reproducible
	out      string    // the OCI layout tarball to write
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fset := flag.NewFlagSet("image", flag.ContinueOnError)
	var o options
	var created string
	fset.StringVar(&o.binary, "binary", "", "static linux urumi binary to put at /urumi (required)")
	fset.StringVar(&o.arch, "arch", "amd64", "GOARCH the binary was built for")
	fset.StringVar(&o.certs, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", `CA bundle to include at /`+certsPath+` ("" for none)`)
	fset.StringVar(&o.version, "version", "dev", "version label")
	fset.StringVar(&o.revision, "revision", "unknown", "source revision label (the commit)")
	fset.StringVar(&created, "created", "", "creation time, RFC 3339 (default: the binary's modification time)")
	fset.StringVar(&o.out, "out", "dist/urumi-image.tar", "OCI image layout tarball to write")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if o.binary == "" {
		return errors.New("no binary given: pass -binary with the path of a static linux urumi binary")
	}
	if created != "" {
		t, err := time.Parse(time.RFC3339, created)
		if err != nil {
			return fmt.Errorf("-created %q is not an RFC 3339 time (like 2026-12-01T00:00:00Z): %w", created, err)
		}
		o.created = t.UTC()
	} else {
		fi, err := os.Stat(o.binary)
		if err != nil {
			return fmt.Errorf("read binary: %w", err)
		}
		o.created = fi.ModTime().UTC().Truncate(time.Second)
	}
	img, err := build(o)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := writeLayoutTar(img, o); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return fmt.Errorf("digest the image: %w", err)
	}
	fmt.Fprintf(os.Stderr, "image: wrote %s (linux/%s, %s)\n", o.out, o.arch, d)
	return nil
}

// labels are the image's OCI labels, also set as its manifest's annotations.
func labels(o options) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       title,
		"org.opencontainers.image.description": descr,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.source":      source,
		"org.opencontainers.image.url":         source,
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
	}
}

// build assembles the image: one layer on nothing.
func build(o options) (v1.Image, error) {
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		return nil, fmt.Errorf("binary %s is not a linux (ELF) executable: build it with GOOS=linux", o.binary)
	}
	files := []file{{name: binaryPath, mode: 0o755, data: bin}}
	if o.certs != "" {
		certs, err := os.ReadFile(o.certs)
		if err != nil {
			return nil, fmt.Errorf("read the CA bundle (install ca-certificates, or pass -ca-certs \"\" to build without one): %w", err)
		}
		files = append(files, file{name: certsPath, mode: 0o644, data: certs})
	}
	layerTar, err := tarOf(files, o.created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("make the image layer: %w", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: o.created},
			CreatedBy: "urumi hack/image: /urumi" + map[bool]string{true: " and the CA bundle", false: ""}[o.certs != ""],
		},
	})
	if err != nil {
		return nil, fmt.Errorf("add the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read the image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = o.arch
	if o.arch == "arm64" {
		cf.Variant = "v8"
	}
	cf.Created = v1.Time{Time: o.created}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Cmd = cmd
	cf.Config.User = user
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = labels(o)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set the image config: %w", err)
	}
	return mutate.Annotations(img, labels(o)).(v1.Image), nil
}

type file struct {
	name string
	mode int64
	data []byte
}

// tarOf is the layer's tar: files owned by root (the user cannot change
// them), their parent directories, all dated t.
func tarOf(files []file, t time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(f.name); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names) // parents first
	for _, d := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: t, Format: tar.FormatPAX}); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
	}
	for _, f := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: t, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("write the layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write the layer: %w", err)
	}
	return buf.Bytes(), nil
}

// writeLayoutTar writes img as an OCI image layout (oci-layout, index.json,
// blobs/) in a tarball: what `skopeo copy oci-archive:...`, `podman load`
// and `docker load` read. The index names the image by its version.
func writeLayoutTar(img v1.Image, o options) error {
	dir, err := os.MkdirTemp("", "urumi-image-")
	if err != nil {
		return fmt.Errorf("make a working directory: %w", err)
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("start the image layout: %w", err)
	}
	ref := map[string]string{"org.opencontainers.image.ref.name": strings.TrimPrefix(o.version, "v")}
	if err := p.AppendImage(img, layout.WithAnnotations(ref)); err != nil {
		return fmt.Errorf("write the image layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return fmt.Errorf("make the output directory: %w", err)
	}
	tmp := o.out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	defer os.Remove(tmp)
	if err := tarDir(f, dir, o.created); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	return os.Rename(tmp, o.out)
}

// tarDir writes dir's tree to w in name order, dated t.
func tarDir(w io.Writer, dir string, t time.Time) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755, ModTime: t})
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: int64(len(data)), ModTime: t}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
