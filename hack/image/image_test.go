package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// `make image` passes the tarball it built; without -image the test builds
// urumi and an image of it itself, so it never skips.
var (
	imageFlag   = flag.String("image", "", "OCI layout tarball to check (default: build one)")
	versionFlag = flag.String("version", "", "version the image must be labelled with")
)

func TestImage(t *testing.T) {
	path, wantVersion := *imageFlag, *versionFlag
	if path == "" {
		path, wantVersion = buildImage(t)
	}
	img, ref := readLayoutTar(t, path)
	if ref == "" {
		t.Error("the image layout's index names no image (org.opencontainers.image.ref.name)")
	}

	m, err := img.Manifest()
	if err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("media types %s / %s, want OCI's", m.MediaType, m.Config.MediaType)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("read config: %v", err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/urumi"}) {
		t.Errorf("entrypoint %q, want [/urumi]", c.Entrypoint)
	}
	if !slices.Equal(c.Cmd, []string{"serve"}) {
		t.Errorf("cmd %q, want [serve]", c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
	}
	if cf.OS != "linux" || (cf.Architecture != "amd64" && cf.Architecture != "arm64") {
		t.Errorf("platform %s/%s, want linux/amd64 or linux/arm64", cf.OS, cf.Architecture)
	}

	l := c.Labels
	for _, k := range []string{"version", "revision", "source", "created", "title"} {
		if l["org.opencontainers.image."+k] == "" {
			t.Errorf("label org.opencontainers.image.%s missing", k)
		}
	}
	if got := l["org.opencontainers.image.source"]; got != "https://github.com/urumi/urumi" {
		t.Errorf("source label %q", got)
	}
	if wantVersion != "" && l["org.opencontainers.image.version"] != wantVersion {
		t.Errorf("version label %q, want %q", l["org.opencontainers.image.version"], wantVersion)
	}
	created, err := time.Parse(time.RFC3339, l["org.opencontainers.image.created"])
	if err != nil {
		t.Errorf("created label: %v", err)
	} else if !created.Equal(cf.Created.Time) {
		t.Errorf("created label %s, config's created %s", created, cf.Created.Time)
	}
	if !sameMap(m.Annotations, l) {
		t.Errorf("manifest annotations %v differ from the labels %v", m.Annotations, l)
	}

	files := layerFiles(t, img)
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"urumi"}) && !slices.Equal(names, []string{"etc/ssl/certs/ca-certificates.crt", "urumi"}) {
		t.Fatalf("image files %q, want only urumi (and the CA bundle)", names)
	}
	bin := files["urumi"]
	if bin.hdr.Mode&0o111 == 0 || bin.hdr.Uid != 0 || bin.hdr.Mode&0o022 != 0 {
		t.Errorf("/urumi mode %o owner %d, want executable, owned by root, writable by no one else", bin.hdr.Mode, bin.hdr.Uid)
	}
	ef, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("/urumi is not an ELF executable: %v", err)
	}
	wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[cf.Architecture]
	if ef.Machine != wantMachine || ef.Type != elf.ET_EXEC {
		t.Errorf("/urumi is %v %v, want a static %v executable", ef.Type, ef.Machine, wantMachine)
	}
	if slices.ContainsFunc(ef.Progs, func(p *elf.Prog) bool { return p.Type == elf.PT_INTERP }) {
		t.Error("/urumi asks for a dynamic loader; the image has none: build with CGO_ENABLED=0")
	}

	// Where it can run here, the binary in the image reports the labelled version.
	if runtime.GOOS == "linux" && runtime.GOARCH == cf.Architecture {
		exe := filepath.Join(t.TempDir(), "urumi")
		if err := os.WriteFile(exe, bin.data, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(exe, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("urumi version: %v\n%s", err, out)
		}
		if v := strings.TrimPrefix(l["org.opencontainers.image.version"], "v"); !strings.Contains(string(out), v) {
			t.Errorf("urumi version says %q, the label %q", out, v)
		}
	}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// buildImage builds urumi for linux on this machine's architecture and an
// image of it, as `make image` does, and returns the tarball and its version.
func buildImage(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "urumi")
	const version = "v0.0.0-test"
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "./cmd/urumi")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build urumi: %v\n%s", err, out)
	}
	certs := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(certs, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	err := run(context.Background(), []string{"-binary", bin, "-arch", runtime.GOARCH, "-ca-certs", certs,
		"-version", version, "-revision", "0123abc", "-created", "2026-01-02T03:04:05Z", "-out", out})
	if err != nil {
		t.Fatalf("build the image: %v", err)
	}
	return out, version
}

// readLayoutTar unpacks an OCI layout tarball and returns its one image and
// the name the index gives it.
func readLayoutTar(t *testing.T, path string) (v1.Image, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open the image: %v", err)
	}
	defer f.Close()
	dir := t.TempDir()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(dst, dir+string(filepath.Separator)) {
			t.Fatalf("%s holds %q, outside the layout", path, h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, 0o755)
		case tar.TypeReg:
			var data []byte
			if data, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(dst, data, 0o644)
			}
		default:
			t.Fatalf("%s holds %q of type %c; an image layout holds files and directories", path, h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatalf("%s is not an OCI image layout: %v", path, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatalf("read the index: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatalf("read the index: %v", err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("the layout holds %d manifests, want one image", len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("read the image: %v", err)
	}
	return img, im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
}

type entry struct {
	hdr  *tar.Header
	data []byte
}

// layerFiles is every non-directory entry of every layer, by name; a
// symbolic link, device or anything else fails the test.
func layerFiles(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("read layers: %v", err)
	}
	files := map[string]entry{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read layer: %v", err)
			}
			name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
			switch h.Typeflag {
			case tar.TypeDir:
				continue
			case tar.TypeReg:
				data, err := io.ReadAll(tr)
				if err != nil {
					t.Fatalf("read layer: %v", err)
				}
				files[name] = entry{hdr: h, data: data}
			default:
				t.Errorf("layer holds %q of type %c: want only regular files (no shell, no links)", name, h.Typeflag)
			}
		}
		rc.Close()
	}
	return files
}
