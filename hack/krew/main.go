// Command krew writes urumi's krew plugin manifest for a release from what
// goreleaser left in its dist directory: the version and tag
// (metadata.json) and each archive's sha256 (checksums.txt). The names,
// homepage and descriptions come from the manifest kept in the repository
// (plugins/urumi.yaml), so they are written in one place.
//
//	go run ./hack/krew -dist dist/release -out dist/release/krew/urumi.yaml
package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// plugin is the part of krew's Plugin (krew.googlecontainertools.github.com/v1alpha2) urumi uses.
type plugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string     `json:"version"`
		Homepage         string     `json:"homepage,omitempty"`
		ShortDescription string     `json:"shortDescription"`
		Description      string     `json:"description,omitempty"`
		Caveats          string     `json:"caveats,omitempty"`
		Platforms        []platform `json:"platforms"`
	} `json:"spec"`
}

type platform struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	URI    string   `json:"uri"`
	Sha256 string   `json:"sha256"`
	Bin    string   `json:"bin"`
	Files  []fileOp `json:"files"`
}

type fileOp struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// release is what goreleaser's metadata.json says of the release.
type release struct {
	ProjectName string `json:"project_name"`
	Tag         string `json:"tag"`
	Version     string `json:"version"`
}

const header = `# krew plugin manifest: ` + "`kubectl krew install --manifest=urumi.yaml`" + `.
# Written by hack/krew from a release's archives and checksums.txt.
`

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("krew", flag.ContinueOnError)
	dist := fs.String("dist", "dist/release", "goreleaser's dist directory")
	base := fs.String("base", "plugins/urumi.yaml", "manifest whose names and descriptions to keep")
	out := fs.String("out", "", "file to write (default: stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := readPlugin(*base)
	if err != nil {
		return err
	}
	rel, err := readRelease(filepath.Join(*dist, "metadata.json"))
	if err != nil {
		return err
	}
	sums, err := os.ReadFile(filepath.Join(*dist, "checksums.txt"))
	if err != nil {
		return fmt.Errorf("read the release's checksums (run goreleaser first): %w", err)
	}
	if err := fill(p, rel, sums); err != nil {
		return err
	}
	b, err := yaml.Marshal(p)
	if err != nil {
		return fmt.Errorf("write the manifest: %w", err)
	}
	b = append([]byte(header), b...)
	if *out == "" {
		_, err = stdout.Write(b)
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fmt.Errorf("write the manifest: %w", err)
	}
	return os.WriteFile(*out, b, 0o644)
}

func readPlugin(path string) (*plugin, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the base manifest: %w", err)
	}
	var p plugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		return nil, fmt.Errorf("base manifest %s is not a krew Plugin: %w", path, err)
	}
	if p.Metadata.Name == "" || p.Spec.Homepage == "" {
		return nil, fmt.Errorf("base manifest %s has no metadata.name or spec.homepage: add them", path)
	}
	return &p, nil
}

func readRelease(path string) (release, error) {
	var r release
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("read the release's metadata (run goreleaser first): %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("release metadata %s is not goreleaser's metadata.json: %w", path, err)
	}
	if r.Tag == "" || r.Version == "" {
		return r, fmt.Errorf("release metadata %s names no tag or version", path)
	}
	return r, nil
}

// fill sets the version and one platform per archive in checksums.txt
// (lines "<sha256>  urumi_<version>_<os>_<arch>.tar.gz", .zip on Windows),
// downloaded from the release's GitHub page.
func fill(p *plugin, rel release, sums []byte) error {
	name := p.Metadata.Name
	archive := regexp.MustCompile(`^` + regexp.QuoteMeta(name+"_"+rel.Version+"_") + `(linux|darwin|windows)_(amd64|arm64)\.(tar\.gz|zip)$`)
	p.Spec.Version = "v" + strings.TrimPrefix(rel.Version, "v")
	p.Spec.Platforms = nil
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return fmt.Errorf("checksums.txt line %d is not \"<sha256>  <file>\"", n)
		}
		m := archive.FindStringSubmatch(f[1])
		if m == nil {
			continue // the image tarballs, and anything else released beside the archives
		}
		if d, err := hex.DecodeString(f[0]); err != nil || len(d) != 32 {
			return fmt.Errorf("checksums.txt line %d: %q is not a sha256", n, f[0])
		}
		goos, arch := m[1], m[2]
		pl := platform{
			URI:    strings.TrimSuffix(p.Spec.Homepage, "/") + "/releases/download/" + rel.Tag + "/" + f[1],
			Sha256: f[0],
			Bin:    name,
			Files:  []fileOp{{From: name, To: "."}, {From: "completions/kubectl_complete-" + name, To: "."}},
		}
		pl.Selector.MatchLabels = map[string]string{"os": goos, "arch": arch}
		if goos == "windows" {
			// kubectl_complete-* is a shell script: no use on Windows.
			pl.Bin = name + ".exe"
			pl.Files = []fileOp{{From: name + ".exe", To: "."}}
		}
		p.Spec.Platforms = append(p.Spec.Platforms, pl)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read checksums.txt: %w", err)
	}
	if len(p.Spec.Platforms) == 0 {
		return errors.New("checksums.txt lists no " + name + "_" + rel.Version + "_<os>_<arch> archive: is it this release's?")
	}
	sort.Slice(p.Spec.Platforms, func(i, j int) bool {
		a, b := p.Spec.Platforms[i].Selector.MatchLabels, p.Spec.Platforms[j].Selector.MatchLabels
		return a["os"]+"/"+a["arch"] < b["os"]+"/"+b["arch"]
	})
	return nil
}
